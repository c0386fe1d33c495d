"""What a subject's earlier sessions say: where it stands in the curriculum.

The position comes from the newest session of the same protocol: its ``end_position``, or,
when the session never ended (killed, crashed), the position replayed from its own files:
``start_position``, then every record in ``trials.jsonl`` and every operator's switch in
``context_switches``, through a context tracker built from the session's own protocol
snapshot. Nothing but the session's files is needed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from rig.schema.protocol import Protocol
from rig.task.context import ContextTracker, Position, StepAdvanced

SUBJECT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# The names the data folder itself uses beside its subjects' folders, each with what it
# is: a subject of one of these names would share the entry (one list, defined here).
REPORTS_DIR = "reports"  # <data_dir>/reports/ holds `rig report`'s output, not a subject
REGISTRY_DB = "registry.sqlite"  # the subject registry (rig/subjects/registry.py)
RESERVED_NAMES: dict[str, str] = {
    REPORTS_DIR: "kept for rig report's folder",
    REGISTRY_DB: "the subject registry",
    # SQLite's files beside it: the rollback journal, and in WAL mode the log and the
    # shared memory (a super-journal, -mj..., is made only with attached databases: none)
    REGISTRY_DB + "-journal": "the subject registry's journal",
    REGISTRY_DB + "-wal": "the subject registry's write-ahead log",
    REGISTRY_DB + "-shm": "the subject registry's shared memory",
}
RULE_REASONS = ("criterion", "trials")


def check_subject_id(subject: str) -> str:
    """A subject ID is a folder name: letters, digits, ``_``, ``.``, ``-``; no paths, and
    none of the names the data folder uses (:data:`RESERVED_NAMES`, in any case: a
    data folder may be on a file system that ignores case)."""
    if not SUBJECT_ID.fullmatch(subject):
        raise ValueError(
            f"subject {subject!r}: use 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    why = {name.casefold(): why for name, why in RESERVED_NAMES.items()}.get(subject.casefold())
    if why is not None:
        raise ValueError(f"subject {subject!r}: the data folder uses this name ({why})")
    return subject


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read it as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def read_records(path: Path) -> list[dict[str, Any]]:
    """The complete lines of a ``.jsonl`` file; a last line cut short by a crash is left out."""
    if not path.exists():
        return []
    return parse_records(path, path.read_text(encoding="utf-8"))


def parse_records(path: Path, text: str) -> list[dict[str, Any]]:
    """The complete lines of ``text``, read from ``path`` (named in errors)."""
    lines = text.split("\n")
    records = []
    for number, line in enumerate(lines, 1):
        if not line:
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if number == len(lines):  # the unterminated last line
                break
            raise ValueError(f"{path}:{number}: not a JSON line ({exc})") from None
    return records


def replayed_position(session_dir: Path, meta: dict[str, Any]) -> Position:
    """The position at the end of a session that did not record one."""
    return replay(meta, read_records(session_dir / "trials.jsonl"))[0]


def replay(
    meta: dict[str, Any], records: list[dict[str, Any]]
) -> tuple[Position, list[tuple[int, StepAdvanced]]]:
    """The session's ``records`` through the curriculum rules of its own protocol snapshot,
    from its ``start_position``, with each operator's switch in ``context_switches``
    applied right after its ``after_trial``: the position at the end, and each step the
    rules advanced, after which trial."""
    protocol = Protocol.model_validate(meta["protocol"])
    tracker = ContextTracker(protocol, Position.from_json(meta["start_position"]))
    manual = sorted(
        (s for s in meta.get("context_switches", [])
         if s["reason"] not in RULE_REASONS and not s.get("completed")),
        key=lambda s: int(s["after_trial"]),
    )  # fmt: skip
    advanced: list[tuple[int, StepAdvanced]] = []
    for record in records:
        # a switch applies before the first trial after its after_trial: also one after
        # trial 0, or after a trial with no record (the one a stop interrupted)
        while manual and int(manual[0]["after_trial"]) < int(record["trial"]):
            switch = manual.pop(0)
            tracker.switch(switch["reason"], switch.get("to_step"))
        step = tracker.record(record["outcome"], record["early_lick"])
        if step is not None:
            advanced.append((int(record["trial"]), step))
    for switch in manual:  # after the last record
        tracker.switch(switch["reason"], switch.get("to_step"))
    return tracker.position, advanced


def last_position(subject_dir: Path, protocol_name: str) -> Position | None:
    """Where the subject's newest session of this protocol left the curriculum."""
    if not subject_dir.is_dir():
        return None
    for session in sorted((p for p in subject_dir.iterdir() if p.is_dir()), reverse=True):
        meta_file = session / "session.json"
        if not meta_file.exists():
            continue
        meta = read_json(meta_file)
        if meta.get("protocol", {}).get("name") != protocol_name:
            continue
        if "end_position" in meta:
            return Position.from_json(meta["end_position"])
        return replayed_position(session, meta)
    return None
