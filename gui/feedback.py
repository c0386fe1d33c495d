"""What the controls' feedback line and the live view's banners say, in sentences (no Qt).

Each function takes an event from :mod:`rig.bus` (and what the session said at its start:
its curriculum's step labels, its planned trials) and returns the sentence a technician
reads: "switching to T2 from trial 16", "delay 1.0 s from trial 20", "drop left given",
"stopped by the operator after 23 of 1,000", "Refused: <the controller's reason>".
"""

from __future__ import annotations

from typing import Any

from rig.bus import ContextSwitched, OperatorActed, RunnerStatus, SessionEnded

# the editable parameters, as a sentence names them: (name, unit)
PARAMETERS = {
    "reward.volume_ul": ("reward", "µL"),
    "epochs.delay_s": ("delay", "s"),
    "epochs.sample_s": ("sample", "s"),
    "epochs.response_window_s": ("response window", "s"),
    "epochs.timeout_s": ("timeout", "s"),
    "early_lick.policy": ("early-lick policy", ""),
    "free_drop.enabled": ("free drops", ""),
    "free_drop.after_unrewarded": ("free drop after unrewarded trials", ""),
    "trial_selection.mode": ("trial selection", ""),
    "trial_selection.max_same": ("at most the same side in a row", ""),
}
SIDES = {"left": "the left valve", "right": "the right valve", "both": "both valves"}
# summary.ended_by (rig/session/session.py ENDED_BY), in words
ENDED_BY_WORDS = {
    "trials": "its trials all run",
    "operator": "stopped by the operator",
    "abort": "aborted by the operator",
    "signal": "stopped by a signal to the controller",
}


def count(n: int | float) -> str:
    """1000 -> "1,000"."""
    return f"{int(n):,}"


def of_planned(done: int, planned: int | None) -> str:
    return f"{count(done)} of {count(planned)}" if planned else count(done)


def value_text(path: str, value: Any) -> str:
    """A parameter's value with its unit: "1.0 s", "on", "2.5 µL"."""
    _, unit = PARAMETERS.get(path, (path, ""))
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float) and unit:
        return f"{value:.1f} {unit}" if value == round(value, 1) else f"{value:g} {unit}"
    return f"{value} {unit}".strip()


def step_name(steps: list[str], step: int | None) -> str:
    if step is None:
        return "the next step"
    return steps[step] if 0 <= step < len(steps) else f"step {step + 1}"


def asked(action: str, args: dict[str, Any], steps: list[str]) -> str:
    """What the screen says once a command was accepted, before the runner applies it."""
    if action == "switch":
        target = step_name(steps, args.get("to_step"))
        return f"switch to {target} asked: it applies from the next trial planned"
    if action == "set":
        path = str(args.get("path", ""))
        name, _ = PARAMETERS.get(path, (path, ""))
        return f"{name} {value_text(path, args.get('value'))} asked: from the next trial planned"
    return {
        "pause": "pause asked: the trial(s) on the device run to their end",
        "resume": "resume asked",
        "stop": "stop asked: the trial(s) on the device run to their end, nothing after",
        "abort": "abort asked: the running trial ends now",
        "drop": f"drop {args.get('side', '')} asked",
        "flush": f"flush of {SIDES.get(str(args.get('side')), 'the valves')} asked",
        "note": "note sent",
    }.get(action, f"{action} asked")


def acted(event: OperatorActed, steps: list[str]) -> str:
    """The runner applied (or refused) an operator's command."""
    if "refused" in event.detail:
        return f"Refused: {event.detail['refused']}"
    args, when = event.args, event.applies_from
    action = event.action
    if action == "switch":
        text = f"switching to {step_name(steps, args.get('to_step'))}"
        return text + (f" from trial {count(when)}" if when is not None else "")
    if action == "set":
        path = str(args.get("path", ""))
        name, _ = PARAMETERS.get(path, (path, ""))
        text = f"{name} {value_text(path, args.get('value'))}"
        if "old" in event.detail:
            text += f" (was {value_text(path, event.detail['old'])})"
        return text + (f" from trial {count(when)}" if when is not None else "")
    if action == "drop":
        volume = event.detail.get("volume_ul")
        return f"drop {args.get('side', '')} given" + (f" ({volume:g} µL)" if volume else "")
    if action == "flush":
        volume = event.detail.get("volume_ul")
        water = f"; {volume:.0f} µL, counted in the water" if volume else ""
        seconds = float(args.get("seconds", 0))
        return f"flush of {SIDES.get(str(args.get('side')), 'the valves')} for {seconds:g} s{water}"
    done = event.after_trial
    return {
        "pause": f"pausing after trial {count(done)}: no new trial until Resume",
        "resume": f"resumed after trial {count(done)}",
        "stop": f"stopping after trial {count(done)}: the trial(s) on the device run to their end",
        "abort": f"aborting: trial {count(done + 1)} ends now, and the session with it",
        "note": f"note added after trial {count(done)}",
    }.get(action, f"{action} after trial {count(done)}")


def status(event: RunnerStatus) -> str | None:
    """The runner's state as a sentence (None: nothing to say)."""
    done = count(event.trials_completed)
    return {
        "paused": f"paused after {done} trials: nothing runs until Resume",
        "pausing": "pausing: the trial(s) on the device run to their end",
        "stopping": "stopping: the trial(s) on the device run to their end",
        "aborting": "aborting the running trial",
    }.get(event.status)


def ended(event: SessionEnded, planned: int | None) -> str:
    """How the session ended, from ``summary["ended_by"]`` (absent in old sessions)."""
    summary = event.summary
    done = of_planned(int(summary.get("trials", 0)), planned)
    by = summary.get("ended_by")
    if by == "trials":
        return f"completed: {done} trials"
    if by in ENDED_BY_WORDS:
        return f"{ENDED_BY_WORDS[by]} after {done}"
    return f"ended ({event.status}) after {done}"


def curriculum(event: ContextSwitched, criteria: list[Any] | None = None) -> str:
    """The banner when the curriculum moves on (or is completed)."""
    after = f"after trial {count(event.trial)}"
    if event.completed:
        return f"Curriculum completed: {event.from_label} was its last step ({after})"
    if event.reason == "criterion":
        value = (criteria or [None] * (event.from_step + 1))[event.from_step : event.from_step + 1]
        why = f"criterion reached ({value[0]:g} % correct)" if value and value[0] else "criterion"
    elif event.reason == "trials":
        why = f"its {count(event.trials_in_step)} trials were done"
    else:
        why = f"operator: {event.reason}"
    return f"Curriculum moved on: {event.from_label} → {event.to_label} {after} ({why})"


def water(total_ul: float, target_ul: float, trial: int) -> str:
    return (
        f"Water target reached: {total_ul:,.0f} of {target_ul:,.0f} µL today "
        f"(at trial {count(trial)})"
    )
