"""What a subject does today: the launcher's suggestion, from the subject's own sessions.

- the protocol: the one of the subject's newest session (its file, if it is still among
  the rig's protocols), else the rig's default;
- the curriculum step: where the newest session of that protocol left it
  (:func:`rig.session.history.last_position`);
- the parameters that differ from the newest session's snapshot, so the technician sees
  what changed before starting;
- whether a process still writes the newest session (``last_session.held_by``, from its
  folder's lock): the launcher does not offer such a session for resume.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rig.schema.loader import load_model
from rig.schema.protocol import Protocol
from rig.session.history import check_subject_id, last_position, read_json
from rig.session.lock import holder
from rig.task.context import ContextTracker

DEFAULT_PROTOCOL = "continual_learning.yaml"


@dataclass
class Suggestion:
    subject: str
    protocol_file: str
    step: int
    label: str
    steps: list[str]
    curriculum_completed: bool
    last_session: dict[str, Any] | None
    differences: list[tuple[str, Any, Any]] = field(default_factory=list)  # path, last, now

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "protocol_file": self.protocol_file,
            "step": self.step,
            "label": self.label,
            "steps": self.steps,
            "curriculum_completed": self.curriculum_completed,
            "last_session": self.last_session,
            "differences": [list(d) for d in self.differences],
        }


def subjects(data_dir: Path) -> list[str]:
    if not data_dir.is_dir():
        return []
    return sorted(
        p.name
        for p in data_dir.iterdir()
        if p.is_dir() and not p.name.startswith(".") and _is_subject(p.name)
    )


def _is_subject(name: str) -> bool:
    try:
        check_subject_id(name)
    except ValueError:
        return False
    return True


def newest_session(subject_dir: Path) -> tuple[Path, dict[str, Any]] | None:
    if not subject_dir.is_dir():
        return None
    for session in sorted((p for p in subject_dir.iterdir() if p.is_dir()), reverse=True):
        meta = session / "session.json"
        if meta.exists():
            return session, read_json(meta)
    return None


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: data}


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    a, b = flatten(old), flatten(new)
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def suggest(
    data_dir: Path, subject: str, protocols_dir: Path, protocol_file: str = ""
) -> Suggestion:
    """Today's protocol and step for ``subject``; ``protocol_file`` overrides the protocol."""
    subject_dir = data_dir / check_subject_id(subject)
    newest = newest_session(subject_dir)
    last: dict[str, Any] | None = None
    if newest is not None:
        session, meta = newest
        summary = meta.get("summary", {})
        last = {
            "dir": str(session),
            "start_time": meta.get("start_time"),
            "status": meta.get("status"),
            "protocol": meta.get("protocol", {}).get("name"),
            "end_label": summary.get("end_label"),
            "trials": summary.get("trials"),
            "percent_correct": summary.get("percent_correct"),
            "weight_g": meta.get("weight_g"),
            # a process still writes it ({pid, host, since, command}): not to be resumed
            "held_by": None if (held := holder(session)) is None else held.to_json(),
        }
    if not protocol_file:
        protocol_file = DEFAULT_PROTOCOL
        if newest is not None:
            previous = Path(newest[1].get("protocol_file", "")).name
            if previous and (protocols_dir / previous).exists():
                protocol_file = previous
    protocol = load_model(protocols_dir / protocol_file, Protocol)
    tracker = ContextTracker(protocol, last_position(subject_dir, protocol.name))
    diffs: list[tuple[str, Any, Any]] = []
    if newest is not None and newest[1].get("protocol", {}).get("name") == protocol.name:
        diffs = differences(newest[1]["protocol"], protocol.model_dump(mode="json"))
    return Suggestion(
        subject,
        protocol_file,
        tracker.step,
        tracker.label,
        protocol.step_labels(),
        tracker.completed,
        last,
        diffs,
    )
