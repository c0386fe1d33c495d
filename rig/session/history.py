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
REPORTS_DIR = "reports"  # <data_dir>/reports/ holds `rig report`'s output, not a subject
RULE_REASONS = ("criterion", "trials")


def check_subject_id(subject: str) -> str:
    """A subject ID is a folder name: letters, digits, ``_``, ``.``, ``-``; no paths."""
    if not SUBJECT_ID.fullmatch(subject):
        raise ValueError(
            f"subject {subject!r}: use 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    if subject == REPORTS_DIR:
        raise ValueError(f"subject {subject!r}: the name is kept for rig report's folder")
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
    lines = path.read_text(encoding="utf-8").split("\n")
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
    manual = {
        s["after_trial"]: s
        for s in meta.get("context_switches", [])
        if s["reason"] not in RULE_REASONS and not s.get("completed")
    }
    advanced: list[tuple[int, StepAdvanced]] = []
    for record in records:
        step = tracker.record(record["outcome"], record["early_lick"])
        if step is not None:
            advanced.append((int(record["trial"]), step))
        switch = manual.get(record["trial"])
        if switch is not None:
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
