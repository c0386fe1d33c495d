"""Outcome classification: one trial's device events -> its record in ``trials.jsonl``.

What happened is derived from the device's own events (the state entries, the licks and
the valve pulses it reports), never from what the host meant to happen; what was asked
for (context, instructed side, stimulus, free drop, delay) comes from the trial's plan:

- ``outcome``: ``hit`` if a reward state was entered, ``error`` for ``TimeOut``,
  ``no_response`` for ``NoResponse`` or an early-lick abort;
- ``early_lick``: a lick onset while in the sample or delay epoch (or their early-lick
  states), whatever the policy; ``early_lick_count`` counts them;
- ``first_lick``: the first lick onset after the device entered the go cue's state (a lick
  in the very cycle the cue starts belongs, as on the device, to the state before);
- ``response_side``: the side the device's decision implies (``RewardLeft`` -> left,
  ``TimeOut`` -> the side not instructed), None for no response;
- ``free_drop``: a free drop was planned; ``free_drop_given``: its valve opened (an
  aborted trial ends before it);
- epoch onsets ``t_sample``/``t_delay``: the *last* entry of the epoch's state, the one
  that ran to its end; ``t_go``: entry of ``ResponseCue``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rig.bus import DeviceEvent
from rig.task.builder import DECISIONS, FREE_DROP_STATE, REWARD_STATE
from rig.task.spec import Outcome, TrialSpec

EARLY_STATES = frozenset({"SamplePeriod", "EarlyLickSample", "DelayPeriod", "EarlyLickDelay"})
LICK_SIDE = {"lick_left": "left", "lick_right": "right"}
VALVE_SIDE = {"valve_left": "left", "valve_right": "right"}
REWARD_SIDE = {state: side for side, state in REWARD_STATE.items()}
FREE_DROP_STATES = frozenset(FREE_DROP_STATE.values())


class TrialRecordError(ValueError):
    """The device's events for a trial do not make a complete trial."""


def response_side_of(decision_state: str, instructed: str) -> str | None:
    """The side the mouse answered, from the state the device decided on."""
    if decision_state in REWARD_SIDE:
        return REWARD_SIDE[decision_state]
    if decision_state == "TimeOut":  # only a lick on the other side leads there
        return "left" if instructed == "right" else "right"
    return None


def is_early(state: str, event: DeviceEvent) -> bool:
    """A lick onset in the sample or delay epoch (``state`` is the state it happened in)."""
    return event.kind == "input" and event.name in LICK_SIDE and state in EARLY_STATES


def early_lick_count(events: Sequence[DeviceEvent]) -> int:
    state, count = "", 0
    for ev in events:
        count += is_early(state, ev)
        if ev.kind == "state":
            state = ev.name
    return count


def summarize_trial(
    spec: TrialSpec,
    modality: str,
    stimulus: str,
    events: Sequence[DeviceEvent],
    *,
    sm_hash: str,
    dead_time_ms: float | None,
    volume_ul: Callable[[str, float], float],
    paused_ms: float = 0.0,
    hand_ms: float = 0.0,
) -> dict[str, Any]:
    """The trial's record; ``volume_ul(side, open_s)`` comes from the valve calibration.
    ``dead_time_ms``, ``paused_ms``, ``hand_ms``: the gap before the trial, split
    (:mod:`rig.session.deadtime`)."""
    state = ""
    entries: dict[str, float] = {}
    outcome: Outcome | None = None
    t_start = t_end = None
    early_count = 0
    first_lick: dict[str, Any] | None = None
    response_side = None
    licks: list[list[Any]] = []
    open_lick: dict[str, list[Any]] = {}
    valves: list[dict[str, Any]] = []
    open_valve: dict[str, tuple[float, str]] = {}
    for ev in events:
        if ev.kind == "trial_start":
            t_start = ev.t
        elif ev.kind == "trial_end":
            t_end = ev.t
        elif ev.kind == "state":
            state = ev.name
            entries[state] = ev.t
            if outcome is None and state in DECISIONS:
                outcome = DECISIONS[state]
                response_side = response_side_of(state, spec.instructed)
        elif ev.kind == "input" and ev.name in LICK_SIDE:
            side = LICK_SIDE[ev.name]
            lick = [side, ev.t, None]
            licks.append(lick)
            open_lick[side] = lick
            early_count += is_early(state, ev)
            if first_lick is None and "ResponseCue" in entries:
                first_lick = {"side": side, "t": ev.t}
        elif ev.kind == "input" and ev.name.removesuffix("_off") in LICK_SIDE:
            closing = open_lick.pop(LICK_SIDE[ev.name.removesuffix("_off")], None)
            if closing is not None:
                closing[2] = ev.t
        elif ev.kind == "output" and ev.name in VALVE_SIDE:
            side = VALVE_SIDE[ev.name]
            if ev.value:
                open_valve[side] = (ev.t, state)
            elif side in open_valve:
                t_on, why = open_valve.pop(side)
                open_s = round(ev.t - t_on, 6)
                valves.append(
                    {
                        "side": side,
                        "t": t_on,
                        "open_s": open_s,
                        "volume_ul": round(volume_ul(side, open_s), 4),
                        "reason": "free_drop" if why in FREE_DROP_STATES else "reward",
                    }
                )
    if t_start is None or t_end is None or outcome is None:
        raise TrialRecordError(
            f"trial {spec.trial}: incomplete events (start={t_start}, end={t_end}, "
            f"outcome={outcome})"
        )
    reward = sum(v["volume_ul"] for v in valves if v["reason"] == "reward")
    free = sum(v["volume_ul"] for v in valves if v["reason"] == "free_drop")
    t_go = entries.get("ResponseCue")
    return {
        "trial": spec.trial,
        "context": spec.context,
        "context_label": spec.label,
        "prime": spec.prime,
        "modality": modality,
        "stimulus": stimulus,
        "instructed": spec.instructed,
        "stage": spec.stage,
        "outcome": outcome,
        "early_lick": early_count > 0,
        "early_lick_count": early_count,
        "free_drop": spec.free_drop,
        "free_drop_given": free > 0,
        "aborted": "EarlyLickAbort" in entries,
        "first_lick": first_lick,
        "first_lick_latency_s": None
        if first_lick is None or t_go is None
        else round(first_lick["t"] - t_go, 4),
        "response_side": response_side,
        "t_start": t_start,
        "t_sample": entries.get("SamplePeriod"),
        "t_delay": entries.get("DelayPeriod"),
        "t_go": t_go,
        "t_end": t_end,
        "delay_s": spec.delay_s,
        "reward_ul": round(reward, 4),
        "free_drop_ul": round(free, 4),
        "valves": valves,
        "licks": licks,
        "dead_time_ms": dead_time_ms,
        "paused_ms": paused_ms,
        "hand_ms": hand_ms,
        "sm_hash": sm_hash,
        "frame_at_start": None,
        # frame-clock pulses seen in the trial (0 on a rig without a microscope)
        "frames": sum(1 for e in events if e.kind == "input" and e.name == "frame_clock"),
    }
