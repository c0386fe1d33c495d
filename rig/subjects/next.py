"""``rig next SUBJECT``: what the subject should run today, and why.

The protocol and step are the launcher's suggestion (:func:`rig.session.today.suggest`:
the newest session's protocol, the step where that protocol's newest session left the
subject); the why is the step's promotion rule against where the subject stands
(:func:`rig.session.today.rule_progress`, which the launcher's day card shows too).
"""

from __future__ import annotations

from pathlib import Path

from rig.schema.loader import load_model
from rig.schema.protocol import Protocol
from rig.session.history import last_position
from rig.session.today import rule_progress, suggest, where
from rig.task.context import ContextTracker


def next_for(data_dir: Path, subject: str, protocols_dir: Path) -> list[str]:
    today = suggest(data_dir, subject, protocols_dir)
    protocol = load_model(protocols_dir / today.protocol_file, Protocol)
    tracker = ContextTracker(protocol, last_position(data_dir / subject, protocol.name))
    lines = [f"subject {subject}: run {protocols_dir / today.protocol_file}"]
    last = today.last_session
    if last is None:
        lines.append("  no session yet: the curriculum's first step")
    else:
        lines.append(
            f"  last session {last['start_time']} ({last['protocol']}, {last['status']}): "
            f"{last['trials']} trials, ended in {last['end_label']}"
        )
    if tracker.completed:
        lines.append("  " + rule_progress(tracker))
        return lines
    lines.append(f"  {where(tracker)}")
    lines.append("  why: " + rule_progress(tracker))
    lines.append("  how it got there: " + today.arrival)
    return lines
