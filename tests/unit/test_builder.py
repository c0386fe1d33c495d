"""Tests for rig.task.builder: every protocol file's trials, state by state.

Each trial of every protocol in ``protocols/`` (every context, every stage, both sides, free
drop on and off) is built and checked against the task table of the mission: state names,
timers, outputs, early-lick policies, valve open times from the hardware calibration.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from rig.fsm.model import EXIT, TUP, Output, State, StateMachine
from rig.schema import HardwareConfig, Protocol, load_model
from rig.task.builder import DECISIONS, build_trial, settings_for, stimulus_for
from rig.task.spec import SIDES, Side, other_side
from tests.helpers import make_spec

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL_FILES = sorted((ROOT / "protocols").glob("*.yaml"))
LICKS = {"left": "lick_left", "right": "lick_right"}
LICK_EVENTS = frozenset(LICKS.values())
REWARD = {"left": "RewardLeft", "right": "RewardRight"}
FREE_DROP = {"left": "GiveLeftDrop", "right": "GiveRightDrop"}
VALVE = {"left": "valve_left", "right": "valve_right"}


def floored(open_s: float) -> float:
    """Valve times are rounded down to whole 100 us cycles: never more water than asked."""
    return math.floor(open_s * 10000 + 1e-6) / 10000


def _load_protocol(path: Path) -> Protocol:
    return load_model(path, Protocol)


def _cases() -> list[Any]:
    cases = []
    for path in PROTOCOL_FILES:
        protocol = _load_protocol(path)
        stages: list[str | None] = [None, *protocol.stages]
        for context in protocol.contexts:
            for stage in stages:
                for side in SIDES:
                    for free_drop in (False, True):
                        cases.append(
                            pytest.param(
                                path.name,
                                context,
                                stage,
                                side,
                                free_drop,
                                id=f"{path.stem}-{context}-{stage}-{side}-fd{int(free_drop)}",
                            )
                        )
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def hardware() -> HardwareConfig:
    return load_model(ROOT / "hardware_configs" / "sim.yaml", HardwareConfig)


@pytest.fixture(scope="module")
def protocols() -> dict[str, Protocol]:
    return {path.name: _load_protocol(path) for path in PROTOCOL_FILES}


def with_changes(protocol: Protocol, **changes: Any) -> Protocol:
    """A validated copy of ``protocol`` with top-level sections replaced."""
    data = protocol.model_dump()
    data.update(changes)
    return Protocol.model_validate(data)


def lick_targets(state: State) -> dict[str, str]:
    return {e: t for e, t in state.transitions.items() if e in LICK_EVENTS}


def test_the_protocol_directory_is_not_empty() -> None:
    names = {p.name for p in PROTOCOL_FILES}
    assert {"tactile_T1.yaml", "continual_learning.yaml", "shaping.yaml"} <= names


# -- every protocol x context x stage x side x free drop -------------------------------------


@pytest.mark.parametrize(("filename", "context", "stage", "side", "free_drop"), CASES)
def test_every_trial_builds_a_valid_machine_with_the_mission_states(
    protocols: dict[str, Protocol],
    hardware: HardwareConfig,
    filename: str,
    context: str,
    stage: str | None,
    side: Side,
    free_drop: bool,
) -> None:
    protocol = protocols[filename]
    s = settings_for(protocol, stage)
    ep = protocol.epochs
    spec = make_spec(protocol, context, stage, side, free_drop)
    machine = build_trial(protocol, hardware, spec)

    assert isinstance(machine, StateMachine)
    assert machine.problems() == []
    # Round trips through YAML to an identical machine (same hash).
    assert StateMachine.from_yaml(machine.to_yaml()).content_hash == machine.content_hash
    names = [st.name for st in machine.states]
    assert names[0] == "TrigTrialStart"
    for required in (
        "TrigTrialStart",
        "PreSamplePeriod",
        "SamplePeriod",
        "DelayPeriod",
        "ResponseCue",
        "AnswerPeriod",
        REWARD[side],
        "RewardConsumption",
        "NoResponse",
        "StopLicking",
        "StopLickingReturn",
    ):
        assert required in names, required

    # The main sequence of the trial, following Tup.
    tup = {st.name: st.transitions.get(TUP) for st in machine.states}
    assert tup["TrigTrialStart"] == "PreSamplePeriod"
    assert tup["PreSamplePeriod"] == "SamplePeriod"
    assert tup["SamplePeriod"] == "DelayPeriod"
    assert tup["DelayPeriod"] == (FREE_DROP[side] if free_drop else "ResponseCue")
    assert tup["ResponseCue"] == "AnswerPeriod"
    assert tup["AnswerPeriod"] == "NoResponse"
    assert tup[REWARD[side]] == "RewardConsumption"
    assert tup["RewardConsumption"] == "StopLicking"
    assert tup["NoResponse"] == "StopLicking"
    assert tup["StopLicking"] == EXIT
    assert tup["StopLickingReturn"] == "StopLicking"

    # Timers: the protocol's numbers with the stage's changes.
    timer = {st.name: st.timer_s for st in machine.states}
    assert timer["TrigTrialStart"] == pytest.approx(ep.trial_start_ttl_s)
    assert timer["PreSamplePeriod"] == pytest.approx(ep.pre_sample_s)
    assert timer["SamplePeriod"] == pytest.approx(s.sample_s)
    assert timer["DelayPeriod"] == pytest.approx(spec.delay_s)
    assert timer["ResponseCue"] == pytest.approx(ep.go_cue.duration_s)
    assert timer["ResponseCue"] + timer["AnswerPeriod"] == pytest.approx(s.response_window_s)
    assert timer["RewardConsumption"] == pytest.approx(ep.reward_consumption_s)
    assert timer["StopLicking"] == pytest.approx(ep.stop_licking_s)
    assert timer["StopLickingReturn"] == pytest.approx(ep.stop_licking_return_s)
    assert timer["NoResponse"] == pytest.approx(ep.no_response_s)

    # The trial-start TTL (and, on tactile contexts, the pole's position from the start).
    assert machine.state("TrigTrialStart").outputs[0] == Output(
        channel="trial_ttl", duration_s=ep.trial_start_ttl_s
    )

    # The go cue: 3.7 kHz for 0.1 s, a pulse from the onset of ResponseCue.
    assert machine.state("ResponseCue").outputs == (
        Output(channel="go_cue", freq_hz=3700.0, duration_s=0.1),
    )

    # The first lick from the go cue's onset decides.
    responses = lick_targets(machine.state("ResponseCue"))
    assert responses == lick_targets(machine.state("AnswerPeriod"))
    if s.either_side_rewarded:
        assert responses == {"lick_left": "RewardLeft", "lick_right": "RewardRight"}
        assert "TimeOut" not in names
    elif s.errors_ignored:
        assert responses == {LICKS[side]: REWARD[side]}
        assert "TimeOut" not in names
        assert REWARD[other_side(side)] not in names
    else:
        assert responses == {LICKS[side]: REWARD[side], LICKS[other_side(side)]: "TimeOut"}
        assert tup["TimeOut"] == "StopLicking"
        assert REWARD[other_side(side)] not in names

    # Reward: the valve of the instructed side, for the calibrated open time.
    open_s = floored(hardware.valve(side).open_time_s(protocol.reward.volume_ul))
    reward = machine.state(REWARD[side])
    assert reward.timer_s == pytest.approx(open_s)
    assert reward.outputs == (Output(channel=VALVE[side], duration_s=open_s),)
    delivered = hardware.valve(side).volume_ul(reward.outputs[0].duration_s or 0)
    one_cycle_more = hardware.valve(side).volume_ul((reward.outputs[0].duration_s or 0) + 1e-4)
    assert delivered <= protocol.reward.volume_ul < one_cycle_more  # the most, never more

    # StopLicking: each lick restarts it through StopLickingReturn.
    assert lick_targets(machine.state("StopLicking")) == {
        "lick_left": "StopLickingReturn",
        "lick_right": "StopLickingReturn",
    }

    # Free drop: after the delay, before the go cue, from the correct port.
    if free_drop:
        drop = machine.state(FREE_DROP[side])
        volume = protocol.free_drop.volume_ul or protocol.reward.volume_ul
        drop_open = floored(hardware.valve(side).open_time_s(volume))
        assert drop.transitions == {TUP: "ResponseCue"}
        assert drop.timer_s == pytest.approx(drop_open)
        assert drop.outputs == (Output(channel=VALVE[side], duration_s=drop_open),)
    assert FREE_DROP[other_side(side)] not in names
    if not free_drop:
        assert FREE_DROP[side] not in names

    # Decision states all exist in DECISIONS.
    assert REWARD[side] in DECISIONS and "NoResponse" in DECISIONS


@pytest.mark.parametrize("path", PROTOCOL_FILES, ids=lambda p: p.stem)
def test_timeout_lasts_the_stage_timeout(hardware: HardwareConfig, path: Path) -> None:
    """A wrong lick's timeout is the stage's (shaping: 1 -> 3 -> 4 s), not only the default."""
    protocol = _load_protocol(path)
    wrong = {}
    for context in protocol.contexts:
        for stage in [None, *protocol.stages]:
            s = settings_for(protocol, stage)
            machine = build_trial(protocol, hardware, make_spec(protocol, context, stage, "left"))
            if "TimeOut" in [st.name for st in machine.states]:
                got = machine.state("TimeOut").timer_s
                if got != pytest.approx(s.timeout_s):
                    wrong[(context, stage)] = (got, s.timeout_s)
    assert wrong == {}, "TimeOut timer (got, expected) per (context, stage)"


def test_shaping_timeouts_follow_the_ladder(
    protocols: dict[str, Protocol], hardware: HardwareConfig
) -> None:
    """The mission's ladder: timeout 1 s (errors allowed) -> 3 s (anti-bias) -> 4 s."""
    protocol = protocols["shaping.yaml"]
    expected = {"errors_allowed": 1.0, "antibias": 3.0, "delay_0.5": 3.0, "delay_1.3": 4.0}
    got = {}
    for stage in expected:
        machine = build_trial(protocol, hardware, make_spec(protocol, "T1", stage, "left"))
        got[stage] = machine.state("TimeOut").timer_s
    assert got == expected


@pytest.mark.parametrize(("filename", "context", "stage", "side", "free_drop"), CASES)
def test_sample_holds_the_context_stimulus(
    protocols: dict[str, Protocol],
    hardware: HardwareConfig,
    filename: str,
    context: str,
    stage: str | None,
    side: Side,
    free_drop: bool,
) -> None:
    protocol = protocols[filename]
    machine = build_trial(protocol, hardware, make_spec(protocol, context, stage, side, free_drop))
    ctx = protocol.contexts[context]
    stimulus = stimulus_for(protocol, context, side)
    assert ctx.mapping[stimulus] == side
    outputs = machine.state("SamplePeriod").outputs
    # Held for the whole sample epoch: no duration.
    assert all(o.duration_s is None for o in outputs)
    if ctx.modality == "tactile":
        position = protocol.stimuli.pole_positions[stimulus]  # type: ignore[index]
        assert {(o.channel, o.value) for o in outputs} == {
            ("pole_position", position),
            ("pole_drop", 1),
        }
    else:
        assert outputs == (
            Output(
                channel=f"sample_tone_{stimulus}",
                freq_hz=protocol.stimuli.tone_hz[stimulus],  # type: ignore[index]
            ),
        )
    # The stimulus is only on in the sample (and its early-lick restart state); the pole
    # moves to its position from the trial's start so that it is there at the sample.
    before_sample = ("TrigTrialStart", "PreSamplePeriod")
    for st in machine.states:
        channels = {o.channel for o in st.outputs}
        if st.name in before_sample and ctx.modality == "tactile":
            assert ("pole_position", position) in {(o.channel, o.value) for o in st.outputs}
        if st.name not in ("SamplePeriod", "EarlyLickSample", *before_sample):
            assert "pole_position" not in channels
        if st.name not in ("SamplePeriod", "EarlyLickSample"):
            assert not channels & {"pole_drop", "sample_tone_high", "sample_tone_low"}


def test_tactile_contexts_map_pole_positions_to_sides(
    protocols: dict[str, Protocol], hardware: HardwareConfig
) -> None:
    """T1: posterior -> right, anterior -> left; T2 reversed (pole positions 100 and 30)."""
    protocol = protocols["continual_learning.yaml"]

    def position(context: str, side: Side) -> int:
        machine = build_trial(protocol, hardware, make_spec(protocol, context, None, side))
        return {o.channel: o.value for o in machine.state("SamplePeriod").outputs}["pole_position"]

    assert position("T1", "right") == 100 and position("T1", "left") == 30
    assert position("T2", "right") == 30 and position("T2", "left") == 100


def test_auditory_context_maps_tones_to_sides(
    protocols: dict[str, Protocol], hardware: HardwareConfig
) -> None:
    """A1: 10 kHz -> right, 2 kHz -> left, the tone on for the whole sample."""
    protocol = protocols["auditory_A1.yaml"]
    got = {}
    for side in SIDES:
        machine = build_trial(protocol, hardware, make_spec(protocol, "A1", None, side))
        (out,) = machine.state("SamplePeriod").outputs
        got[side] = (out.channel, out.freq_hz, out.duration_s)
    assert got == {
        "right": ("sample_tone_high", 10000.0, None),
        "left": ("sample_tone_low", 2000.0, None),
    }


def test_tone_frequency_comes_from_the_protocol(
    protocols: dict[str, Protocol], hardware: HardwareConfig
) -> None:
    protocol = with_changes(
        protocols["auditory_A1.yaml"], stimuli={"tone_hz": {"high": 12345.0, "low": 2500.0}}
    )
    machine = build_trial(protocol, hardware, make_spec(protocol, "A1", None, "right"))
    assert machine.state("SamplePeriod").outputs[0].freq_hz == 12345.0


# -- early-lick policies ----------------------------------------------------------------------


@pytest.mark.parametrize("modality_file", ["tactile_T1.yaml", "auditory_A1.yaml"])
@pytest.mark.parametrize("side", SIDES)
def test_restart_policy_goes_through_early_lick_states_back_to_the_epoch(
    protocols: dict[str, Protocol], hardware: HardwareConfig, modality_file: str, side: Side
) -> None:
    protocol = protocols[modality_file]
    assert protocol.early_lick.policy == "restart"
    context = next(iter(protocol.contexts))
    machine = build_trial(protocol, hardware, make_spec(protocol, context, None, side))
    assert lick_targets(machine.state("SamplePeriod")) == {
        "lick_left": "EarlyLickSample",
        "lick_right": "EarlyLickSample",
    }
    assert lick_targets(machine.state("DelayPeriod")) == {
        "lick_left": "EarlyLickDelay",
        "lick_right": "EarlyLickDelay",
    }
    early_sample = machine.state("EarlyLickSample")
    early_delay = machine.state("EarlyLickDelay")
    assert early_sample.transitions == {TUP: "SamplePeriod"}
    assert early_delay.transitions == {TUP: "DelayPeriod"}
    assert early_sample.timer_s == pytest.approx(protocol.early_lick.state_s) == 0.05
    assert early_delay.timer_s == pytest.approx(0.05)
    # The stimulus stays on while the sample restarts; nothing is on in the delay's.
    assert early_sample.outputs == machine.state("SamplePeriod").outputs
    assert early_delay.outputs == ()
    assert "EarlyLickAbort" not in [st.name for st in machine.states]


@pytest.mark.parametrize(
    ("epochs", "enforced"),
    [
        (["sample", "delay"], {"SamplePeriod", "DelayPeriod"}),
        (["sample"], {"SamplePeriod"}),
        (["delay"], {"DelayPeriod"}),
        ([], set()),
    ],
)
def test_restart_only_in_the_enforced_epochs(
    protocols: dict[str, Protocol],
    hardware: HardwareConfig,
    epochs: list[str],
    enforced: set[str],
) -> None:
    protocol = with_changes(
        protocols["tactile_T1.yaml"],
        early_lick={"policy": "restart", "epochs": epochs, "state_s": 0.05},
    )
    machine = build_trial(protocol, hardware, make_spec(protocol, "T1", None, "left"))
    names = {st.name for st in machine.states}
    for epoch, early in (("SamplePeriod", "EarlyLickSample"), ("DelayPeriod", "EarlyLickDelay")):
        targets = lick_targets(machine.state(epoch))
        if epoch in enforced:
            assert targets == {"lick_left": early, "lick_right": early}
            assert early in names
        else:
            assert targets == {}
            assert early not in names


@pytest.mark.parametrize("epochs", [["sample", "delay"], ["sample"], ["delay"]])
def test_abort_policy_goes_to_early_lick_abort(
    protocols: dict[str, Protocol], hardware: HardwareConfig, epochs: list[str]
) -> None:
    protocol = with_changes(
        protocols["tactile_T1.yaml"], early_lick={"policy": "abort", "epochs": epochs}
    )
    machine = build_trial(protocol, hardware, make_spec(protocol, "T1", None, "right"))
    names = {st.name for st in machine.states}
    assert "EarlyLickAbort" in names
    assert not names & {"EarlyLickSample", "EarlyLickDelay"}
    for epoch, key in (("SamplePeriod", "sample"), ("DelayPeriod", "delay")):
        expected = {"lick_left": "EarlyLickAbort", "lick_right": "EarlyLickAbort"}
        assert lick_targets(machine.state(epoch)) == (expected if key in epochs else {})
    abort = machine.state("EarlyLickAbort")
    assert abort.transitions == {TUP: "StopLicking"}
    assert DECISIONS["EarlyLickAbort"] == "no_response"


def test_ignore_policy_has_no_lick_transitions_in_sample_or_delay(
    protocols: dict[str, Protocol], hardware: HardwareConfig
) -> None:
    protocol = with_changes(protocols["tactile_T1.yaml"], early_lick={"policy": "ignore"})
    machine = build_trial(protocol, hardware, make_spec(protocol, "T1", None, "left"))
    assert machine.state("SamplePeriod").transitions == {TUP: "DelayPeriod"}
    assert machine.state("DelayPeriod").transitions == {TUP: "ResponseCue"}
    names = {st.name for st in machine.states}
    assert not names & {"EarlyLickSample", "EarlyLickDelay", "EarlyLickAbort"}


def test_stage_policy_overrides_the_protocol_policy(
    protocols: dict[str, Protocol], hardware: HardwareConfig
) -> None:
    """Shaping: the first stages ignore early licks; delay_0.3 restarts only in the delay."""
    protocol = protocols["shaping.yaml"]
    m = build_trial(protocol, hardware, make_spec(protocol, "T1", "lick_either_side", "left"))
    assert lick_targets(m.state("SamplePeriod")) == lick_targets(m.state("DelayPeriod")) == {}
    m = build_trial(protocol, hardware, make_spec(protocol, "T1", "delay_0.3", "left"))
    assert lick_targets(m.state("SamplePeriod")) == {}
    assert set(lick_targets(m.state("DelayPeriod")).values()) == {"EarlyLickDelay"}
    m = build_trial(protocol, hardware, make_spec(protocol, "T1", "delay_1.3", "left"))
    assert set(lick_targets(m.state("SamplePeriod")).values()) == {"EarlyLickSample"}
    assert set(lick_targets(m.state("DelayPeriod")).values()) == {"EarlyLickDelay"}


# -- numbers from the protocol, the stage and the calibration ---------------------------------


def test_shaping_delay_ladder(protocols: dict[str, Protocol]) -> None:
    protocol = protocols["shaping.yaml"]
    ladder = [settings_for(protocol, f"delay_{d}").delay_s for d in ("0.3", "0.5", "0.8", "1.0")]
    assert ladder == [0.3, 0.5, 0.8, 1.0]
    assert settings_for(protocol, "delay_1.3").delay_s == 1.3
    assert settings_for(protocol, None).delay_s == protocol.epochs.delay_s


def test_the_spec_delay_is_the_delay_timer(
    protocols: dict[str, Protocol], hardware: HardwareConfig
) -> None:
    """A jittered delay is drawn by the planner; the machine uses the spec's number."""
    protocol = protocols["shaping.yaml"]
    spec = make_spec(protocol, "T1", "antibias", "right", delay_s=0.4567)
    assert build_trial(protocol, hardware, spec).state("DelayPeriod").timer_s == 0.4567


def test_stage_numbers_override_the_protocol(
    protocols: dict[str, Protocol], hardware: HardwareConfig
) -> None:
    base = protocols["shaping.yaml"]
    data = base.model_dump()
    data["stages"]["custom"] = {
        "sample_s": 0.9,
        "delay_s": 0.7,
        "response_window_s": 1.5,
    }
    protocol = Protocol.model_validate(data)
    machine = build_trial(protocol, hardware, make_spec(protocol, "T1", "custom", "left"))
    assert machine.state("SamplePeriod").timer_s == 0.9
    assert machine.state("DelayPeriod").timer_s == 0.7
    assert machine.state("ResponseCue").timer_s + machine.state(
        "AnswerPeriod"
    ).timer_s == pytest.approx(1.5)


def test_epoch_numbers_come_from_the_protocol(
    protocols: dict[str, Protocol], hardware: HardwareConfig
) -> None:
    protocol = with_changes(
        protocols["tactile_T1.yaml"],
        epochs={
            "trial_start_ttl_s": 0.02,
            "pre_sample_s": 0.0,
            "sample_s": 1.1,
            "delay_s": 0.6,
            "go_cue": {"freq_hz": 5000.0, "duration_s": 0.2},
            "response_window_s": 1.8,
            "reward_consumption_s": 0.5,
            "timeout_s": 2.0,
            "stop_licking_s": 1.5,
        },
        early_lick={"policy": "restart", "state_s": 0.08},
    )
    spec = make_spec(protocol, "T1", None, "right")
    machine = build_trial(protocol, hardware, spec)
    timer = {st.name: st.timer_s for st in machine.states}
    assert timer["TrigTrialStart"] == 0.02
    assert timer["PreSamplePeriod"] == 0.0
    assert timer["SamplePeriod"] == 1.1
    assert timer["DelayPeriod"] == 0.6
    assert timer["ResponseCue"] == 0.2
    assert timer["AnswerPeriod"] == pytest.approx(1.6)
    assert timer["RewardConsumption"] == 0.5
    assert timer["TimeOut"] == 2.0
    assert timer["StopLicking"] == 1.5
    assert timer["EarlyLickSample"] == timer["EarlyLickDelay"] == 0.08
    assert machine.state("ResponseCue").outputs == (
        Output(channel="go_cue", freq_hz=5000.0, duration_s=0.2),
    )
    assert machine.state("TrigTrialStart").outputs[0].duration_s == 0.02


@pytest.mark.parametrize("volume", [1.0, 2.0, 2.5, 3.0, 5.0])
@pytest.mark.parametrize("side", SIDES)
def test_valve_open_time_is_the_calibrated_time_for_the_volume(
    protocols: dict[str, Protocol], hardware: HardwareConfig, volume: float, side: Side
) -> None:
    protocol = with_changes(protocols["tactile_T1.yaml"], reward={"volume_ul": volume})
    machine = build_trial(protocol, hardware, make_spec(protocol, "T1", None, side))
    (valve,) = machine.state(REWARD[side]).outputs
    assert valve.channel == VALVE[side]
    assert valve.duration_s == floored(hardware.valve(side).open_time_s(volume))
    delivered = hardware.valve(side).volume_ul(valve.duration_s)
    assert delivered <= volume < hardware.valve(side).volume_ul(valve.duration_s + 1e-4)


def test_sim_calibration_open_times(hardware: HardwareConfig) -> None:
    """2.5 uL: left between 1.6 uL @ 20 ms and 3.4 uL @ 40 ms, right 1.8 @ 20 and 3.7 @ 40."""
    assert hardware.valve("left").open_time_s(2.5) == pytest.approx(0.03)
    assert hardware.valve("right").open_time_s(2.5) == pytest.approx(0.02 + 0.02 * 0.7 / 1.9)


def test_free_drop_volume_from_the_free_drop_rule(
    protocols: dict[str, Protocol], hardware: HardwareConfig
) -> None:
    protocol = with_changes(protocols["tactile_T1.yaml"], free_drop={"volume_ul": 1.2})
    machine = build_trial(protocol, hardware, make_spec(protocol, "T1", None, "left", True))
    drop = machine.state("GiveLeftDrop")
    assert drop.outputs[0].duration_s == floored(hardware.valve("left").open_time_s(1.2))
    reward = machine.state("RewardLeft")
    assert reward.outputs[0].duration_s == floored(hardware.valve("left").open_time_s(2.5))


def test_a_volume_beyond_the_calibration_limit_is_refused(
    protocols: dict[str, Protocol], hardware: HardwareConfig
) -> None:
    protocol = with_changes(protocols["tactile_T1.yaml"], reward={"volume_ul": 20.0})
    with pytest.raises(ValueError, match=r"20.0 uL is outside the calibrated volumes \(0.7-7.1"):
        build_trial(protocol, hardware, make_spec(protocol, "T1", None, "left"))
    beyond = with_changes(protocol, reward={"volume_ul": 20.0, "beyond_calibration": True})
    with pytest.raises(ValueError, match="open time"):  # and never past max_open_s
        build_trial(beyond, hardware, make_spec(beyond, "T1", None, "left"))


def test_a_volume_past_the_highest_point_is_extended_only_when_asked(
    protocols: dict[str, Protocol], hardware: HardwareConfig
) -> None:
    """8 uL on the left: past the highest point (7.1 uL at 80 ms), within max_open_s."""
    protocol = with_changes(protocols["tactile_T1.yaml"], reward={"volume_ul": 8.0})
    with pytest.raises(ValueError, match="beyond_calibration"):
        build_trial(protocol, hardware, make_spec(protocol, "T1", None, "left"))
    asked = with_changes(protocol, reward={"volume_ul": 8.0, "beyond_calibration": True})
    machine = build_trial(asked, hardware, make_spec(asked, "T1", None, "left"))
    (valve,) = machine.state("RewardLeft").outputs
    assert valve.duration_s == floored(0.04 + 0.04 * (8.0 - 3.4) / (7.1 - 3.4))


def test_machines_differ_by_side_and_hash_is_stable(
    protocols: dict[str, Protocol], hardware: HardwareConfig
) -> None:
    protocol = protocols["tactile_T1.yaml"]
    left = build_trial(protocol, hardware, make_spec(protocol, "T1", None, "left"))
    left_again = build_trial(protocol, hardware, make_spec(protocol, "T1", None, "left"))
    right = build_trial(protocol, hardware, make_spec(protocol, "T1", None, "right"))
    assert left.content_hash == left_again.content_hash
    assert left.content_hash != right.content_hash


def test_stimulus_for_unknown_side_mapping_raises(protocols: dict[str, Protocol]) -> None:
    protocol = protocols["continual_learning.yaml"]
    assert stimulus_for(protocol, "T1", "right") == "posterior"
    assert stimulus_for(protocol, "T2", "right") == "anterior"
    assert stimulus_for(protocol, "A1", "right") == "high"
    with pytest.raises(KeyError):
        stimulus_for(protocol, "nope", "right")
