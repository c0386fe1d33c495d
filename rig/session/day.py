"""A subject's day at the rig: its weighings, its sessions of one calendar day and the water
they gave, and the weight checks the launcher makes before a session starts.

Everything is read from the subject's session folders (``session.json``, and for a session
that never ended its ``trials.jsonl`` and ``operator.jsonl``):

- a *weighing* is the weight before a session (``weight_g``, entered in the launcher) or
  after it (``end_annotations.weight_g``, the end form's); the *last* weighing is the
  newest of either kind, the *baseline* the subject's first weighing on record (labs weigh
  a mouse before its water restriction starts);
- a session's *water* is what the mouse drank in it: the trials' rewards and free drops,
  the drops given by hand, and the water of trials a resume found interrupted;
- the *day* of a session is the calendar day of its ``start_time`` (as recorded: the rig's
  local time).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rig.session.history import read_json, read_records

# Water restriction: a weight this far below the last weighing (a fraction of it) is asked
# about before the session starts; so is a weight below this fraction of the baseline.
WEIGHT_DROP_FROM_LAST = 0.15  # 15 % in a day or two: the mouse may be unwell, or a typo
BASELINE_FRACTION = 0.80  # 80 % of the pre-restriction weight: the usual lower limit
# The summary's water, in uL: the trials' (rewards, free drops), by hand, interrupted trials'
WATER_KEYS = ("water_ul", "hand_water_ul", "interrupted_water_ul")


@dataclass(frozen=True, slots=True)
class Weighing:
    """One weight on record: ``after`` the session (end form) or before it (launcher)."""

    weight_g: float
    when: str  # ISO time: the session's start (before) or end (after)
    session: str  # the session folder's name
    after: bool

    def to_json(self) -> dict[str, Any]:
        return {"weight_g": self.weight_g, "when": self.when, "session": self.session,
                "after": self.after}  # fmt: skip


Sessions = list[tuple[Path, dict[str, Any]]]  # (folder, session.json), oldest first


def sessions(subject_dir: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """The subject's session folders with their ``session.json``, oldest first; a folder
    whose ``session.json`` is missing or unreadable is left out."""
    if not subject_dir.is_dir():
        return
    for folder in sorted(p for p in subject_dir.iterdir() if p.is_dir()):
        try:
            yield folder, read_json(folder / "session.json")
        except ValueError:
            continue


def weighings(read: Sessions) -> list[Weighing]:
    """Every weight on record in the subject's sessions (:func:`sessions`), oldest first."""
    out = []
    for folder, meta in read:
        start = str(meta.get("start_time", ""))
        if isinstance(meta.get("weight_g"), int | float):
            out.append(Weighing(float(meta["weight_g"]), start, folder.name, after=False))
        after = (meta.get("end_annotations") or {}).get("weight_g")
        if isinstance(after, int | float):
            out.append(Weighing(float(after), str(meta.get("end_time") or start), folder.name,
                                after=True))  # fmt: skip
    return out


def summary_water_ul(summary: dict[str, Any]) -> float:
    """What the mouse drank in an ended session, uL, from its summary (:data:`WATER_KEYS`)."""
    return sum(float(summary.get(k) or 0.0) for k in WATER_KEYS)


def session_water_ul(folder: Path, meta: dict[str, Any]) -> float:
    """What the mouse drank in the session, uL: from its summary, or, for a session that
    never ended (running, crashed), from its trial records and the drops given by hand."""
    summary = meta.get("summary")
    if isinstance(summary, dict) and "water_ul" in summary:
        return round(summary_water_ul(summary), 3)
    try:
        trials = read_records(folder / "trials.jsonl")
        acted = read_records(folder / "operator.jsonl")
    except (OSError, ValueError):
        return 0.0
    water = sum(float(r.get("reward_ul", 0.0)) + float(r.get("free_drop_ul", 0.0)) for r in trials)
    water += sum(
        float(a.get("volume_ul", 0.0))
        for a in acted
        if a.get("action") == "drop" and "refused" not in a
    )
    return round(water, 3)


def day_of(meta: dict[str, Any]) -> dt.date | None:
    """The calendar day the session started on, as recorded."""
    try:
        return dt.datetime.fromisoformat(str(meta["start_time"])).date()
    except (KeyError, ValueError):
        return None


def same_day(read: Sessions, day: dt.date, exclude: Path | None = None) -> list[dict[str, Any]]:
    """The sessions (:func:`sessions`) that started on ``day`` (but ``exclude``), oldest
    first: each with its folder, start time, status, trials, water and how it ended."""
    out = []
    for folder, meta in read:
        if day_of(meta) != day or (exclude is not None and folder.name == exclude.name):
            continue
        summary = meta.get("summary") or {}
        trials = summary.get("trials")
        if trials is None:  # never ended: its records so far
            try:
                trials = len(read_records(folder / "trials.jsonl"))
            except (OSError, ValueError):
                trials = 0
        out.append({
            "dir": str(folder), "start_time": meta.get("start_time"),
            "status": meta.get("status"), "trials": trials,
            "water_ul": session_water_ul(folder, meta), "ended_by": summary.get("ended_by"),
            "protocol": (meta.get("protocol") or {}).get("name"),
        })  # fmt: skip
    return out


def earlier_water_ul(subject_dir: Path, day: dt.date, exclude: Path | None = None) -> float:
    """The water the subject got on ``day`` in its sessions other than ``exclude`` (the
    one starting now), uL: what today's target is counted against besides this session."""
    today = same_day(list(sessions(subject_dir)), day, exclude)
    return round(sum(float(s["water_ul"]) for s in today), 3)


def weight_questions(
    weight_g: float, last: Weighing | None, baseline: Weighing | None
) -> list[str]:
    """What to ask the operator about today's weight before starting: a drop from the last
    weighing of :data:`WEIGHT_DROP_FROM_LAST` or more, a weight below
    :data:`BASELINE_FRACTION` of the baseline. Empty: nothing to ask."""
    out = []
    if last is not None and weight_g <= last.weight_g * (1 - WEIGHT_DROP_FROM_LAST):
        drop = 100 * (1 - weight_g / last.weight_g)
        kind = "after" if last.after else "before"
        out.append(
            f"weight {weight_g:g} g is {drop:.0f} % below the last weighing "
            f"({last.weight_g:g} g {kind} the session of {last.when[:10]}); "
            f"asked from {100 * WEIGHT_DROP_FROM_LAST:.0f} %"
        )
    if baseline is not None and weight_g < baseline.weight_g * BASELINE_FRACTION:
        share = 100 * weight_g / baseline.weight_g
        out.append(
            f"weight {weight_g:g} g is {share:.0f} % of the baseline ({baseline.weight_g:g} g "
            f"on {baseline.when[:10]}); asked below {100 * BASELINE_FRACTION:.0f} %"
        )
    return out
