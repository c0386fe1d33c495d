"""Build each trial's state machine from protocol + context + trial type + stage.

The states carry the Li lab's names (``SamplePeriod``, ``EarlyLickDelay``, ``AnswerPeriod``,
``StopLicking``, ...). A trial runs::

    TrigTrialStart -> PreSamplePeriod -> SamplePeriod -> DelayPeriod [-> GiveLeftDrop]
      -> ResponseCue -> AnswerPeriod -> RewardLeft | TimeOut | NoResponse
      -> [RewardConsumption] -> StopLicking -> exit

A lick in an enforced sample or delay epoch goes to ``EarlyLickSample`` / ``EarlyLickDelay``
and back (restart), to ``EarlyLickAbort`` (abort), or nowhere (ignore). The first lick from
the go cue's onset decides the trial. ``StopLicking`` ends the trial after ``stop_licking_s``
without licks; each lick restarts it through ``StopLickingReturn``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

from rig.fsm.executor import CYCLES_PER_S
from rig.fsm.model import EXIT, TUP, Output, State, StateMachine
from rig.schema.hardware import VALVE_FOR_SIDE, HardwareConfig
from rig.schema.protocol import POLE_POSITIONS, Protocol, Stage
from rig.task.spec import SIDES, Outcome, Side, TrialSpec, other_side

LICKS = {"left": "lick_left", "right": "lick_right"}
REWARD_STATE = {"left": "RewardLeft", "right": "RewardRight"}
FREE_DROP_STATE = {"left": "GiveLeftDrop", "right": "GiveRightDrop"}
# The states whose entry decides the outcome: the runner queues the next trial from here.
DECISIONS: dict[str, Outcome] = {
    "RewardLeft": "hit",
    "RewardRight": "hit",
    "TimeOut": "error",
    "NoResponse": "no_response",
    "EarlyLickAbort": "no_response",
}
NO_STAGE = Stage()
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Settings:
    """The protocol's numbers with a stage's changes applied."""

    sample_s: float
    delay_s: float
    delay_jitter_s: float
    timeout_s: float
    response_window_s: float
    early_lick_policy: str
    early_lick_epochs: tuple[str, ...]
    selection_mode: str
    errors_ignored: bool
    either_side_rewarded: bool


def _or(value: T | None, default: T) -> T:
    return default if value is None else value


def settings_for(protocol: Protocol, stage_name: str | None) -> Settings:
    stage = protocol.stages[stage_name] if stage_name is not None else NO_STAGE
    ep = protocol.epochs
    return Settings(
        sample_s=_or(stage.sample_s, ep.sample_s),
        delay_s=_or(stage.delay_s, ep.delay_s),
        delay_jitter_s=stage.delay_jitter_s,
        timeout_s=_or(stage.timeout_s, ep.timeout_s),
        response_window_s=_or(stage.response_window_s, ep.response_window_s),
        early_lick_policy=_or(stage.early_lick_policy, protocol.early_lick.policy),
        early_lick_epochs=tuple(_or(stage.early_lick_epochs, protocol.early_lick.epochs)),
        selection_mode=_or(stage.selection_mode, protocol.trial_selection.mode),
        errors_ignored=stage.errors == "ignored",
        either_side_rewarded=stage.either_side_rewarded,
    )


def valve_open_s(
    hardware: HardwareConfig, side: Side, volume_ul: float, beyond_points: bool = False
) -> float:
    """The calibrated open time for ``volume_ul``, rounded *down* to whole device cycles:
    never a drop more than asked for (outside the measured volumes only if asked for)."""
    exact = hardware.valve(side).open_time_s(volume_ul, beyond_points=beyond_points)
    return max(math.floor(exact * CYCLES_PER_S + 1e-6), 1) / CYCLES_PER_S


def stimulus_for(protocol: Protocol, context: str, side: Side) -> str:
    """The stimulus name that instructs ``side`` in ``context`` (``posterior``, ``high``)."""
    for stimulus, mapped in protocol.contexts[context].mapping.items():
        if mapped == side:
            return stimulus
    raise KeyError(f"context {context!r} has no stimulus for {side}")


def stimulus_outputs(
    protocol: Protocol, context: str, side: Side
) -> tuple[tuple[Output, ...], tuple[Output, ...]]:
    """(held from the trial's start, held during the sample).

    Tactile: the pole's position is set from the trial's start, so the actuator has the
    pre-sample epoch to move; the pole drops for the sample. Auditory: the tone plays for
    the sample.
    """
    ctx = protocol.contexts[context]
    stimulus = stimulus_for(protocol, context, side)
    if ctx.modality == "tactile":
        assert stimulus in POLE_POSITIONS
        position = protocol.stimuli.pole_positions[stimulus]  # type: ignore[index]
        setup = (Output(channel="pole_position", value=position),)
        return setup, (*setup, Output(channel="pole_drop"))
    freq = protocol.stimuli.tone_hz[stimulus]  # type: ignore[index]
    return (), (Output(channel=f"sample_tone_{stimulus}", freq_hz=freq),)


def build_trial(protocol: Protocol, hardware: HardwareConfig, spec: TrialSpec) -> StateMachine:
    """The state machine of one trial."""
    s = settings_for(protocol, spec.stage)
    ep = protocol.epochs
    side = spec.instructed
    setup, stim = stimulus_outputs(protocol, spec.context, side)
    reward_open = valve_open_s(
        hardware, side, protocol.reward.volume_ul, protocol.reward.beyond_calibration
    )
    enforce = {
        e: s.early_lick_policy != "ignore" and e in s.early_lick_epochs for e in ("sample", "delay")
    }
    early_target = {
        "sample": "EarlyLickSample" if s.early_lick_policy == "restart" else "EarlyLickAbort",
        "delay": "EarlyLickDelay" if s.early_lick_policy == "restart" else "EarlyLickAbort",
    }

    def early(epoch: str) -> dict[str, str]:
        return {lick: early_target[epoch] for lick in LICKS.values()} if enforce[epoch] else {}

    after_delay = FREE_DROP_STATE[side] if spec.free_drop else "ResponseCue"
    states = [
        State(
            name="TrigTrialStart",
            timer_s=ep.trial_start_ttl_s,
            transitions={TUP: "PreSamplePeriod"},
            outputs=(Output(channel="trial_ttl", duration_s=ep.trial_start_ttl_s), *setup),
        ),
        State(
            name="PreSamplePeriod",
            timer_s=ep.pre_sample_s,
            transitions={TUP: "SamplePeriod"},
            outputs=setup,
        ),
        State(
            name="SamplePeriod",
            timer_s=s.sample_s,
            transitions={**early("sample"), TUP: "DelayPeriod"},
            outputs=stim,
        ),
        State(
            name="DelayPeriod",
            timer_s=spec.delay_s,
            transitions={**early("delay"), TUP: after_delay},
        ),
    ]
    if s.early_lick_policy == "restart":
        if enforce["sample"]:
            states.append(
                State(
                    name="EarlyLickSample",
                    timer_s=protocol.early_lick.state_s,
                    transitions={TUP: "SamplePeriod"},
                    outputs=stim,  # the stimulus stays on while the epoch restarts
                )
            )
        if enforce["delay"]:
            states.append(
                State(
                    name="EarlyLickDelay",
                    timer_s=protocol.early_lick.state_s,
                    transitions={TUP: "DelayPeriod"},
                )
            )
    elif s.early_lick_policy == "abort" and any(enforce.values()):
        states.append(
            State(name="EarlyLickAbort", timer_s=ep.no_response_s, transitions={TUP: "StopLicking"})
        )
    if spec.free_drop:
        volume = protocol.free_drop.volume_ul or protocol.reward.volume_ul
        open_s = valve_open_s(hardware, side, volume, protocol.reward.beyond_calibration)
        states.append(
            State(
                name=FREE_DROP_STATE[side],
                timer_s=open_s,
                transitions={TUP: "ResponseCue"},
                outputs=(Output(channel=VALVE_FOR_SIDE[side], duration_s=open_s),),
            )
        )
    responses = _responses(side, s)
    cue = ep.go_cue
    states += [
        State(
            name="ResponseCue",
            timer_s=cue.duration_s,
            transitions={**responses, TUP: "AnswerPeriod"},
            outputs=(Output(channel="go_cue", freq_hz=cue.freq_hz, duration_s=cue.duration_s),),
        ),
        State(
            name="AnswerPeriod",
            timer_s=s.response_window_s - cue.duration_s,
            transitions={**responses, TUP: "NoResponse"},
        ),
    ]
    for rewarded in SIDES if s.either_side_rewarded else (side,):
        open_s = (
            reward_open
            if rewarded == side
            else valve_open_s(
                hardware, rewarded, protocol.reward.volume_ul, protocol.reward.beyond_calibration
            )
        )
        states.append(
            State(
                name=REWARD_STATE[rewarded],
                timer_s=open_s,
                transitions={TUP: "RewardConsumption"},
                outputs=(Output(channel=VALVE_FOR_SIDE[rewarded], duration_s=open_s),),
            )
        )
    states += [
        State(
            name="RewardConsumption",
            timer_s=ep.reward_consumption_s,
            transitions={TUP: "StopLicking"},
        ),
        State(name="NoResponse", timer_s=ep.no_response_s, transitions={TUP: "StopLicking"}),
        State(
            name="StopLicking",
            timer_s=ep.stop_licking_s,
            transitions={
                LICKS["left"]: "StopLickingReturn",
                LICKS["right"]: "StopLickingReturn",
                TUP: EXIT,
            },
        ),
        State(
            name="StopLickingReturn",
            timer_s=ep.stop_licking_return_s,
            transitions={TUP: "StopLicking"},
        ),
    ]
    if "TimeOut" in responses.values():
        states.append(State(name="TimeOut", timer_s=s.timeout_s, transitions={TUP: "StopLicking"}))
    # Named after the variant, not the trial or the step's label: equal trials (T1 and T1'
    # included) get equal machines and hashes.
    return StateMachine(name=f"{spec.context}_{side}", states=tuple(states))


def _responses(side: Side, s: Settings) -> dict[str, str]:
    if s.either_side_rewarded:
        return {LICKS[x]: REWARD_STATE[x] for x in SIDES}
    wrong = other_side(side)
    responses = {LICKS[side]: REWARD_STATE[side]}
    if not s.errors_ignored:
        responses[LICKS[wrong]] = "TimeOut"
    return responses
