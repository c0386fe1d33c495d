"""``rig next SUBJECT``: what the subject should run today, and why.

The protocol and step are the launcher's suggestion (:func:`rig.session.today.suggest`:
the newest session's protocol, the step where that protocol's newest session left the
subject); the why is the step's promotion rule against where the subject stands.
"""

from __future__ import annotations

from pathlib import Path

from rig.schema.loader import load_model
from rig.schema.protocol import Protocol
from rig.session.history import last_position
from rig.session.today import suggest
from rig.task.context import ContextTracker


def next_for(data_dir: Path, subject: str, protocols_dir: Path) -> list[str]:
    today = suggest(data_dir, subject, protocols_dir)
    protocol = load_model(protocols_dir / today.protocol_file, Protocol)
    tracker = ContextTracker(protocol, last_position(data_dir / subject, protocol.name))
    step = protocol.curriculum[tracker.step]
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
        lines.append(f"  the curriculum of {protocol.name} is completed: nothing left to train")
        return lines
    where = f"step {tracker.step + 1} of {len(protocol.curriculum)}: {tracker.label}"
    stage = f", shaping stage {step.stage}" if step.stage else ""
    lines.append(f"  {where} (context {step.context}{stage})")
    lines.append("  why: " + _rule(tracker))
    return lines


def _rule(tracker: ContextTracker) -> str:
    rule, done = tracker.current.advance, tracker.trials_in_step
    if rule.rule == "manual":
        return f"the operator moves it on (manual); {done} trials in the step so far"
    if rule.rule == "trials":
        assert rule.trials is not None
        if done >= rule.trials:
            return f"{done} of {rule.trials} trials done: it moves on after its next trial"
        left = rule.trials - done
        return f"it moves on after {rule.trials} trials in the step: {done} done, {left} to go"
    position = tracker.position
    responded, pc = len(position.recent), tracker.percent_correct()
    text = f"it moves on at {rule.percent_correct:g} % correct over {rule.window} responded trials"
    if rule.min_trials:
        text += f", after at least {rule.min_trials} trials in the step"
    if rule.max_early_lick_percent is not None:
        text += f", with at most {rule.max_early_lick_percent:g} % early licks"
    if tracker.criterion_met():
        return text + ": met, it moves on after its next trial"
    now = "no responded trial yet" if pc is None else f"{pc:.1f} % over {responded}"
    missing = []
    if responded < rule.window:
        missing.append(f"{rule.window - responded} more responded trials")
    if pc is not None and pc < rule.percent_correct:
        missing.append(f"{rule.percent_correct - pc:.1f} points of percent correct")
    if done < rule.min_trials:
        missing.append(f"{rule.min_trials - done} more trials in the step")
    if rule.max_early_lick_percent is not None and responded:
        early = 100.0 * sum(e for _, e in position.recent) / responded
        if early > rule.max_early_lick_percent:
            missing.append(f"early licks down from {early:.1f} %")
    return f"{text}; now {now}; missing: {', '.join(missing)}"
