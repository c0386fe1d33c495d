"""What a report shows, read from the registry and the session folders (no matplotlib).

A subject's sessions come from the registry (:class:`rig.subjects.registry.Registry`), in
start order, numbered 1..N. Each session is cut into *segments*: the runs of consecutive
trials of one context label in its ``trials.jsonl`` (a session that met criterion midway
has two). Its context spells come from :meth:`Registry.context_history`, with the session
numbers in place of the folders.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rig.session.history import read_json, read_records
from rig.subjects.registry import Registry


class NoSessions(LookupError):
    """The registry holds no session of the subject."""


@dataclass(frozen=True, slots=True)
class Session:
    number: int  # 1-based, in start order
    path: Path
    start_time: str  # ISO 8601 with the UTC offset, as in session.json
    protocol: str
    status: str
    trials: int  # complete lines of trials.jsonl
    weight_g: float | None
    water_ul: float  # reward and free drops, from trials.jsonl
    hand_water_ul: float  # the operator's drops (summary), 0 without a summary

    @property
    def date(self) -> dt.date:
        return dt.datetime.fromisoformat(self.start_time).date()


@dataclass(frozen=True, slots=True)
class Segment:
    """The consecutive trials of one context label within one session."""

    session: int
    label: str
    first_trial: int
    last_trial: int
    trials: int
    hits: int
    errors: int
    no_responses: int
    early_licks: int
    water_ul: float
    criterion_percent: float | None  # the step's criterion rule's percent, if it has one

    @property
    def percent_correct(self) -> float | None:
        responded = self.hits + self.errors
        return 100.0 * self.hits / responded if responded else None

    @property
    def early_lick_percent(self) -> float | None:
        return 100.0 * self.early_licks / self.trials if self.trials else None


@dataclass(frozen=True, slots=True)
class Spell:
    """A context spell (:class:`rig.subjects.registry.ContextSpell`) by session number."""

    ordinal: int  # 1-based place in the subject's context history
    label: str
    entered_session: int
    entered_after_trial: int
    left_session: int | None
    left_after_trial: int | None
    reason: str | None
    trials: int | None  # the registry's count; counted from trials.jsonl when it has none
    trials_to_criterion: int | None
    off_curriculum: bool = False  # entered by the operator (the launcher's override, a switch)
    entered_reason: str = ""

    @property
    def current(self) -> bool:
        return self.left_session is None


@dataclass(frozen=True, slots=True)
class Report:
    subject: str
    data_dir: Path
    sessions: list[Session]
    segments: list[Segment]
    spells: list[Spell]

    def labels(self) -> list[str]:
        """Every context label, first seen first (the spells, then the segments)."""
        seen = [s.label for s in self.spells] + [s.label for s in self.segments]
        return list(dict.fromkeys(seen))


def read_report(registry: Registry, subject: str) -> Report:
    """One subject's sessions, segments and spells; :class:`NoSessions` if it has none, a
    ``ValueError`` naming the file (and line) for a session file that cannot be read."""
    rows = registry.sessions(subject)
    if not rows:
        raise NoSessions(f"subject {subject}: no sessions in {registry.data_dir}")
    sessions: list[Session] = []
    segments: list[Segment] = []
    trial_numbers: dict[int, list[int]] = {}
    for number, row in enumerate(rows, 1):
        folder = Path(row["path"])
        meta = read_json(folder / "session.json")
        records = read_records(folder / "trials.jsonl")
        trial_numbers[number] = [int(r["trial"]) for r in records]
        steps = _steps(row)
        mine = [_segment(number, run, steps, meta) for run in _runs(records)]
        segments += mine
        summary = meta.get("summary") or {}
        sessions.append(
            Session(
                number=number,
                path=folder,
                start_time=row["start_time"],
                protocol=row["protocol"],
                status=row["status"],
                trials=len(records),
                weight_g=row["weight_g"],
                water_ul=sum(s.water_ul for s in mine),
                hand_water_ul=float(summary.get("hand_water_ul", 0.0)),
            )
        )
    numbers = {row["path"]: number for number, row in enumerate(rows, 1)}
    spells = []
    for ordinal, c in enumerate(registry.context_history(subject), 1):
        entered = numbers[c.entered_session]
        left = numbers[c.left_session] if c.left_session is not None else None
        trials = c.trials
        if trials is None:  # still current, or moved between sessions: count the records
            end = (left, c.left_after_trial or 0) if left is not None else None
            trials = _count(trial_numbers, (entered, c.entered_after_trial), end)
        spells.append(
            Spell(ordinal, c.label, entered, c.entered_after_trial, left, c.left_after_trial,
                  c.reason, trials, c.trials_to_criterion, c.off_curriculum, c.entered_reason)
        )  # fmt: skip
    return Report(subject, registry.data_dir, sessions, segments, spells)


def criterion_table(
    registry: Registry, protocol: str | None = None
) -> list[tuple[str, int, str, int]]:
    """(subject, ordinal, label, trials to criterion) for every spell of every subject that
    was left by its criterion (only ``protocol``'s, if given). Spells line up across mice by
    their curriculum step, not their place in each mouse's history: the ordinals number the
    (protocol, visit, step) seen, protocols in the order mice first ran them, so shaping or
    an operator's detour does not shift one mouse's contexts against the others'."""
    keyed: list[tuple[str, tuple[str, int, int], str, int]] = []
    protocols: list[str] = []
    for subject in registry.subjects():
        visits: Counter[tuple[str, int]] = Counter()
        for spell in registry.context_history(subject["id"]):
            if protocol is not None and spell.protocol != protocol:
                continue
            protocols += [spell.protocol] if spell.protocol not in protocols else []
            visits[(spell.protocol, spell.step)] += 1
            if spell.trials_to_criterion is not None:
                key = (spell.protocol, visits[(spell.protocol, spell.step)], spell.step)
                keyed.append((subject["id"], key, spell.label, spell.trials_to_criterion))
    keys = sorted({k for _, k, _, _ in keyed}, key=lambda k: (protocols.index(k[0]), *k[1:]))
    ordinal = {k: i for i, k in enumerate(keys, 1)}
    return [(subject, ordinal[k], label, n) for subject, k, label, n in keyed]


def ordinal_labels(table: list[tuple[str, int, str, int]]) -> dict[int, str]:
    """The tick label of each ordinal: its label, or the labels mice had there, by count."""
    counts: dict[int, Counter[str]] = {}
    for _, ordinal, label, _ in table:
        counts.setdefault(ordinal, Counter())[label] += 1
    return {o: "/".join(lb for lb, _ in c.most_common()) for o, c in sorted(counts.items())}


def criterion_percent(protocol: dict[str, Any], step: int | None) -> float | None:
    """The percent correct of a curriculum step's criterion rule in a protocol snapshot."""
    curriculum = protocol.get("curriculum") or []
    if step is None or not 0 <= step < len(curriculum):
        return None
    advance = curriculum[step].get("advance") or {}
    if advance.get("rule") != "criterion" or advance.get("percent_correct") is None:
        return None
    return float(advance["percent_correct"])


def _runs(records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    runs: list[list[dict[str, Any]]] = []
    for record in records:
        if runs and runs[-1][-1].get("context_label") == record.get("context_label"):
            runs[-1].append(record)
        else:
            runs.append([record])
    return runs


def _steps(row: dict[str, Any]) -> list[tuple[int, int]]:
    """(first trial, step) from the session's start and each switch that moved the step."""
    steps = [(1, int(row["start_step"]))]
    for switch in row["switches"]:
        if not switch.get("completed"):
            steps.append((int(switch["after_trial"]) + 1, int(switch["to_step"])))
    return steps


def _segment(
    session: int, run: list[dict[str, Any]], steps: list[tuple[int, int]], meta: dict[str, Any]
) -> Segment:
    first = int(run[0]["trial"])
    step = next((s for start, s in reversed(steps) if start <= first), None)
    outcomes = Counter(r.get("outcome") for r in run)
    return Segment(
        session=session,
        label=str(run[0].get("context_label")),
        first_trial=first,
        last_trial=int(run[-1]["trial"]),
        trials=len(run),
        hits=outcomes["hit"],
        errors=outcomes["error"],
        no_responses=outcomes["no_response"],
        early_licks=sum(1 for r in run if r.get("early_lick")),
        water_ul=sum(float(r.get("reward_ul", 0)) + float(r.get("free_drop_ul", 0)) for r in run),
        criterion_percent=criterion_percent(meta.get("protocol") or {}, step),
    )


def _count(
    trials: dict[int, list[int]], start: tuple[int, int], end: tuple[int, int] | None
) -> int:
    """Trials after ``start`` (session, trial) up to ``end`` (inclusive), or to the last."""
    return sum(
        1
        for session, numbers in trials.items()
        for trial in numbers
        if (session, trial) > start and (end is None or (session, trial) <= end)
    )
