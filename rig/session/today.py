"""What a subject does today: the launcher's suggestion, from the subject's own sessions.

- the protocol: the one of the subject's newest session (its file, if it is still among
  the rig's protocols), else the rig's default;
- the curriculum step: where the newest session of that protocol left it
  (:func:`rig.session.history.last_position`);
- the parameters that differ from the newest session's snapshot, so the technician sees
  what changed before starting;
- whether a process still writes the newest session (``last_session.held_by``, from its
  folder's lock): the launcher does not offer such a session for resume;
- the launcher's day card: the step's rule against where the subject stands (``rule``, as
  ``rig next`` prints it), how the subject got to the step (``arrival``), each step with its
  description, the last session's end weight and water, the weighings the launcher checks
  today's weight against, and the subject's sessions of today with their water
  (:mod:`rig.session.day`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rig.schema.loader import load_model
from rig.schema.protocol import Protocol
from rig.session.day import Sessions, same_day, session_water_ul, sessions, weighings
from rig.session.history import RULE_REASONS, check_subject_id, last_position, read_json
from rig.session.lock import holder
from rig.task.context import ContextTracker

# A new subject's protocol: the first of the lab's curriculum (its shaping comes before, in
# the home cage or as protocols/shaping.yaml chosen by the operator)
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
    where: str = ""  # "step 2 of 5: T2 (context T2)"
    rule: str = ""  # the step's rule against where the subject stands (rig next's "why")
    arrival: str = ""  # how the subject got to the step: start, criterion, an operator
    step_descriptions: list[str] = field(default_factory=list)  # each step's, in words
    weights: dict[str, Any] = field(default_factory=dict)  # last, baseline: Weighing or None
    today: list[dict[str, Any]] = field(default_factory=list)  # today's sessions so far
    water_target_ul: float = 0.0  # the protocol's reward.session_target_ul

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
            "where": self.where,
            "rule": self.rule,
            "arrival": self.arrival,
            "step_descriptions": self.step_descriptions,
            "weights": self.weights,
            "today": self.today,
            "earlier_water_today_ul": round(sum(s["water_ul"] for s in self.today), 3),
            "water_target_ul": self.water_target_ul,
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
    data_dir: Path,
    subject: str,
    protocols_dir: Path,
    protocol_file: str = "",
    today: dt.date | None = None,
) -> Suggestion:
    """Today's protocol and step for ``subject``; ``protocol_file`` overrides the protocol;
    ``today``: the calendar day whose sessions are listed (None: the rig's today)."""
    subject_dir = data_dir / check_subject_id(subject)
    newest = newest_session(subject_dir)
    last: dict[str, Any] | None = None
    if newest is not None:
        session, meta = newest
        summary = meta.get("summary") or {}
        last = {
            "dir": str(session),
            "start_time": meta.get("start_time"),
            "status": meta.get("status"),
            "protocol": meta.get("protocol", {}).get("name"),
            "end_label": summary.get("end_label"),
            "trials": summary.get("trials"),
            "percent_correct": summary.get("percent_correct"),
            "weight_g": meta.get("weight_g"),
            "weight_after_g": (meta.get("end_annotations") or {}).get("weight_g"),
            "end_time": meta.get("end_time"),
            "ended_by": summary.get("ended_by"),
            "water_ul": session_water_ul(session, meta),
            "hand_water_ul": summary.get("hand_water_ul"),
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
    read = list(sessions(subject_dir))  # every session.json once, for the day card
    weighed = weighings(read)
    day = today or dt.datetime.now().astimezone().date()
    return Suggestion(
        subject,
        protocol_file,
        tracker.step,
        tracker.label,
        protocol.step_labels(),
        tracker.completed,
        last,
        diffs,
        where=where(tracker),
        rule=rule_progress(tracker),
        arrival=arrival(read, protocol.name, tracker.step),
        step_descriptions=[describe_step(protocol, i) for i in range(len(protocol.curriculum))],
        weights={
            "last": weighed[-1].to_json() if weighed else None,
            "baseline": weighed[0].to_json() if weighed else None,
        },
        today=same_day(read, day),
        water_target_ul=protocol.reward.session_target_ul,
    )


def where(tracker: ContextTracker) -> str:
    """The step the subject is at, in words: ``step 2 of 5: T2 (context T2)``."""
    step = tracker.current
    stage = f", shaping stage {step.stage}" if step.stage else ""
    return (
        f"step {tracker.step + 1} of {len(tracker.protocol.curriculum)}: {tracker.label} "
        f"(context {step.context}{stage})"
    )


def describe_step(protocol: Protocol, index: int) -> str:
    """One curriculum step in words: its context's and stage's descriptions, and its rule."""
    step = protocol.curriculum[index]
    context = protocol.contexts[step.context]
    parts = [context.description or f"{context.modality} context {step.context}"]
    if step.stage:
        stage = protocol.stages[step.stage]
        changes = stage.model_dump(mode="json", exclude_defaults=True, exclude={"description"})
        parts.append(
            stage.description
            or f"stage {step.stage}: " + ", ".join(f"{k} {v}" for k, v in changes.items())
        )
    rule = step.advance
    if rule.rule == "manual":
        parts.append("moved on by the operator")
    elif rule.rule == "trials":
        parts.append(f"{rule.trials} trials")
    else:
        at_least = f", at least {rule.min_trials} trials" if rule.min_trials else ""
        parts.append(
            f"to {rule.percent_correct:g} % correct over {rule.window} responded trials" + at_least
        )
    return "; ".join(parts)


def arrival(read: Sessions, protocol_name: str, step: int) -> str:
    """How the subject got to ``step`` of the protocol: the curriculum's rule (criterion or
    trial count), an operator's switch or override (with its reason), or its start."""
    found = False
    for folder, meta in reversed(read):
        if (meta.get("protocol") or {}).get("name") != protocol_name:
            continue
        found = True
        when = str(meta.get("start_time", folder.name))[:16].replace("T", " ")
        for switch in reversed(meta.get("context_switches", [])):
            reason, left = switch["reason"], switch["from"]
            n, after = switch.get("trials_in_step"), switch.get("after_trial")
            if switch.get("completed"):
                return f"completed the curriculum in {left} ({reason}, session of {when})"
            if reason == "criterion":
                return f"reached the criterion of {left} after {n} trials in it (session of {when})"
            if reason in RULE_REASONS:
                return f"did its {n} trials of {left} (session of {when})"
            return (
                f"switched by the operator from {left} after trial {after} "
                f"(session of {when}): {reason}"
            )
        if (meta.get("start_position") or {}).get("step") != step:
            return f"at this step since the session of {when}"  # no switch recorded
        if meta.get("override_reason"):
            return f"started here by the operator (session of {when}): {meta['override_reason']}"
    if not found:
        return "no session of this protocol yet: the curriculum's first step"
    return "at this step since its first session of this protocol"


def rule_progress(tracker: ContextTracker) -> str:
    """The step's promotion rule against where the subject stands: what is still missing,
    or that it is met (``rig next``'s "why")."""
    if tracker.completed:
        return f"the curriculum of {tracker.protocol.name} is completed: nothing left to train"
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
