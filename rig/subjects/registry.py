"""The subject registry: ``<data_dir>/registry.sqlite``.

The session folders are the record; the database is an index of them, so it can be
deleted and rebuilt (:meth:`Registry.reindex`). Only what the folders cannot hold lives
only here: the subjects' own details (sex, birth date, genotype, notes), entered with
:meth:`Registry.add_subject`. The schema is versioned with ``PRAGMA user_version`` and
migrated forward on open (:data:`MIGRATIONS`).

A subject's context history is read from its sessions in start order: the first session's
starting step enters its context; each ``context_switches`` entry leaves one context (with
its reason and the trials it took) and enters the next; a session that starts elsewhere
(another protocol, or an operator's override with its reason) leaves the context it was in
and enters that one. A context entered by an operator is marked off-curriculum.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rig.session.history import REGISTRY_DB, check_subject_id

DB_NAME = REGISTRY_DB  # its name, and those of SQLite's files beside it: history.RESERVED_NAMES
BUSY_TIMEOUT_S = 60.0  # how long an opener waits for another process's write (or migration)
MIGRATIONS: tuple[str, ...] = (
    # 1: subjects, sessions, context history
    """
    CREATE TABLE subjects (
        id TEXT PRIMARY KEY, sex TEXT NOT NULL DEFAULT '', birth_date TEXT,
        genotype TEXT NOT NULL DEFAULT '', notes TEXT NOT NULL DEFAULT '');
    CREATE TABLE sessions (
        path TEXT PRIMARY KEY, subject TEXT NOT NULL, start_time TEXT NOT NULL,
        end_time TEXT, rig TEXT NOT NULL, operator TEXT NOT NULL, protocol TEXT NOT NULL,
        start_label TEXT NOT NULL, end_label TEXT, status TEXT NOT NULL,
        trials INTEGER NOT NULL, hits INTEGER NOT NULL, errors INTEGER NOT NULL,
        no_responses INTEGER NOT NULL, percent_correct REAL,
        percent_correct_by_context TEXT NOT NULL, water_ul REAL NOT NULL,
        weight_g REAL, override_reason TEXT NOT NULL, scope TEXT);
    CREATE INDEX sessions_by_subject ON sessions (subject, start_time);
    CREATE TABLE contexts (
        subject TEXT NOT NULL, ordinal INTEGER NOT NULL, label TEXT NOT NULL,
        step INTEGER NOT NULL, entered_session TEXT NOT NULL,
        entered_after_trial INTEGER NOT NULL, left_session TEXT,
        left_after_trial INTEGER, reason TEXT, trials INTEGER,
        PRIMARY KEY (subject, ordinal));
    """,
    # 2: what the context history is built from, kept with the session (no file reads)
    """
    ALTER TABLE sessions ADD COLUMN start_step INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN switches TEXT NOT NULL DEFAULT '[]';
    """,
    # 3: imaging fields of view; how each context was entered, and in which protocol
    # (rebuilt from the sessions table on migration; `fov` is filled in by a reindex)
    """
    ALTER TABLE sessions ADD COLUMN fov TEXT NOT NULL DEFAULT '';
    ALTER TABLE contexts ADD COLUMN protocol TEXT NOT NULL DEFAULT '';
    ALTER TABLE contexts ADD COLUMN entered_reason TEXT NOT NULL DEFAULT '';
    """,
)
# how a context is entered on the curriculum's own terms (anything else is an operator's)
ON_CURRICULUM = ("start", "criterion", "trials", "new protocol")


class RegistryError(ValueError):
    """A session folder that cannot be indexed, or a subject that cannot be added."""


@dataclass(frozen=True, slots=True)
class ContextSpell:
    """One stay in one curriculum step: entered, then left (by criterion, a trial count,
    the operator) after ``trials`` trials in the step, or still current."""

    label: str
    step: int
    entered_session: str
    entered_after_trial: int
    left_session: str | None
    left_after_trial: int | None
    reason: str | None
    trials: int | None
    protocol: str = ""
    entered_reason: str = "start"  # how it was entered: ON_CURRICULUM, or the operator's why

    @property
    def trials_to_criterion(self) -> int | None:
        return self.trials if self.reason == "criterion" else None

    @property
    def off_curriculum(self) -> bool:
        """Entered by an operator's override (its reason is ``entered_reason``)."""
        return self.entered_reason not in ON_CURRICULUM


class Registry:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(data_dir / DB_NAME, timeout=BUSY_TIMEOUT_S)
        self.db.row_factory = sqlite3.Row
        try:
            self._migrate()
        except BaseException:
            self.db.close()
            raise

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        """Bring the schema up to date, in one transaction that holds the database's write
        lock from its start (``BEGIN IMMEDIATE``): processes that open an old database at
        once wait for each other (up to :data:`BUSY_TIMEOUT_S`), and each reads the version
        again under the lock, so a migration runs once."""
        if self.schema_version >= len(MIGRATIONS):
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            before = self.schema_version  # again: another process may have migrated meanwhile
            for version in range(before, len(MIGRATIONS)):
                for statement in _statements(MIGRATIONS[version]):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {version + 1}")
            if 0 < before < len(MIGRATIONS):  # the derived history, in the new form
                for (subject,) in self.db.execute("SELECT id FROM subjects").fetchall():
                    self._rebuild_contexts(subject)
            self.db.commit()
        except BaseException:
            self.db.rollback()
            raise

    # -- subjects ---------------------------------------------------------------------------------
    def add_subject(
        self,
        subject: str,
        *,
        sex: str = "",
        birth_date: dt.date | None = None,
        genotype: str = "",
        notes: str = "",
    ) -> None:
        try:
            check_subject_id(subject)
        except ValueError as exc:
            raise RegistryError(str(exc)) from None
        with self.db:
            self.db.execute(
                "INSERT INTO subjects VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "sex = excluded.sex, birth_date = excluded.birth_date, "
                "genotype = excluded.genotype, notes = excluded.notes",
                (subject, sex, birth_date.isoformat() if birth_date else None, genotype, notes),
            )

    def subject(self, subject: str) -> dict[str, Any] | None:
        """The subject's own details (id, sex, birth_date, genotype, notes), if known."""
        row = self.db.execute("SELECT * FROM subjects WHERE id = ?", (subject,)).fetchone()
        return None if row is None else dict(row)

    def subjects(self) -> list[dict[str, Any]]:
        """Every subject with its session count, last session and where it stands."""
        rows = self.db.execute(
            "SELECT s.*, COUNT(x.path) AS sessions, MAX(x.start_time) AS last_session "
            "FROM subjects s LEFT JOIN sessions x ON x.subject = s.id "
            "GROUP BY s.id ORDER BY s.id"
        ).fetchall()
        out = []
        for row in rows:
            spells = self.context_history(row["id"])
            current = next((c.label for c in reversed(spells) if c.left_session is None), None)
            out.append({**dict(row), "context": current})
        return out

    # -- sessions ---------------------------------------------------------------------------------
    def index_session(self, folder: Path, *, contexts: bool = True) -> str:
        """(Re)index one session folder from its ``session.json``; rebuild its subject's
        context history unless ``contexts`` is false. Returns the subject."""
        meta = _read(folder / "session.json")
        subject = str(_field(meta, "subject", folder))
        summary = meta.get("summary") or {}
        outcomes = summary.get("outcomes", {})
        end = meta.get("end_annotations") or {}
        row = (
            str(folder.resolve()), subject, _field(meta, "start_time", folder),
            meta.get("end_time"), meta.get("rig", ""), meta.get("operator", ""),
            (meta.get("protocol") or {}).get("name", ""), _field(meta, "start_label", folder),
            summary.get("end_label"), _field(meta, "status", folder), summary.get("trials", 0),
            outcomes.get("hit", 0), outcomes.get("error", 0), outcomes.get("no_response", 0),
            summary.get("percent_correct"),
            json.dumps(summary.get("percent_correct_by_context", {}), sort_keys=True),
            summary.get("water_ul", 0.0), end.get("weight_g", meta.get("weight_g")),
            meta.get("override_reason", ""), (meta.get("scope") or {}).get("kind"),
            (meta.get("start_position") or {}).get("step", 0),
            json.dumps(meta.get("context_switches", [])), meta.get("fov", ""),
        )  # fmt: skip
        with self.db:
            self.db.execute("INSERT OR IGNORE INTO subjects (id) VALUES (?)", (subject,))
            self.db.execute(
                "INSERT OR REPLACE INTO sessions VALUES (" + ", ".join("?" * len(row)) + ")",
                row,
            )
            if contexts:
                self._rebuild_contexts(subject)
        return subject

    def reindex(self) -> int:
        """Forget every session and index the data folder again; the number indexed."""
        folders = sorted(p.parent for p in self.data_dir.glob("*/*/session.json"))
        with self.db:
            self.db.execute("DELETE FROM sessions")
            self.db.execute("DELETE FROM contexts")
        subjects = {self.index_session(folder, contexts=False) for folder in folders}
        with self.db:
            for subject in subjects:
                self._rebuild_contexts(subject)
        return len(folders)

    def sessions(self, subject: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT * FROM sessions WHERE subject = ? ORDER BY start_time", (subject,)
        ).fetchall()
        return [
            {
                **dict(r),
                "percent_correct_by_context": json.loads(r["percent_correct_by_context"]),
                "switches": json.loads(r["switches"]),
            }
            for r in rows
        ]

    def context_history(self, subject: str) -> list[ContextSpell]:
        rows = self.db.execute(
            "SELECT * FROM contexts WHERE subject = ? ORDER BY ordinal", (subject,)
        ).fetchall()
        return [ContextSpell(*tuple(r)[2:]) for r in rows]

    def fovs(self, subject: str) -> dict[str, list[str]]:
        """Each imaging field of view of the subject -> the sessions (folders) that imaged it."""
        out: dict[str, list[str]] = {}
        for fov, path in self.db.execute(
            "SELECT fov, path FROM sessions WHERE subject = ? AND fov != '' ORDER BY start_time",
            (subject,),
        ):
            out.setdefault(fov, []).append(path)
        return out

    def _rebuild_contexts(self, subject: str) -> None:
        spells: list[list[Any]] = []  # ContextSpell's fields, in order
        for path, protocol, start_label, step, switches, override in self.db.execute(
            "SELECT path, protocol, start_label, start_step, switches, override_reason "
            "FROM sessions WHERE subject = ? ORDER BY start_time",
            (subject,),
        ).fetchall():
            last = spells[-1] if spells else None
            if last is None or (last[8], last[1]) != (protocol, step):  # (after a completed
                entered = override or (  # curriculum, its last step's sessions go on as they are)
                    "start" if last is None
                    else "new protocol" if last[8] != protocol
                    else "between sessions"
                )  # fmt: skip
                if last is not None and last[4] is None:  # moved on between sessions
                    last[4:8] = [path, 0, entered, None]
                spells.append([start_label, step, path, 0, None, None, None, None, protocol,
                               entered])  # fmt: skip
            for switch in json.loads(switches):
                spells[-1][4:8] = [
                    path, switch["after_trial"], switch["reason"], switch["trials_in_step"]
                ]  # fmt: skip
                if not switch.get("completed"):
                    spells.append(
                        [switch["to"], switch["to_step"], path, switch["after_trial"],
                         None, None, None, None, protocol, switch["reason"]]
                    )  # fmt: skip
        self.db.execute("DELETE FROM contexts WHERE subject = ?", (subject,))
        self.db.executemany(
            "INSERT INTO contexts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(subject, i, *spell) for i, spell in enumerate(spells)],
        )


def _statements(script: str) -> list[str]:
    """A migration's statements, one by one (``executescript`` would commit first, outside
    the migration's transaction). The scripts hold no ``;`` but between statements."""
    return [statement.strip() for statement in script.split(";") if statement.strip()]


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RegistryError(f"{path}: cannot be indexed: {exc}") from None
    if not isinstance(data, dict):
        raise RegistryError(f"{path}: cannot be indexed: not a JSON object")
    return data


def _field(meta: dict[str, Any], key: str, folder: Path) -> Any:
    if key not in meta:
        raise RegistryError(f"{folder / 'session.json'}: cannot be indexed: no {key!r}")
    return meta[key]
