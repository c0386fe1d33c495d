"""Water safety on the Bpod (which has no limit of its own): the compiler refuses any
machine that could hold a valve's Bpod output open past the valve's maximum, pulses and
held outputs together, loops included, whatever rig channel the output actions came from;
every machine the rig builds is within it. (The lick-port board limits valves itself:
tests/lickport/test_safety.py; the bound against the emulated Bpod's pins:
tests/unit/test_water_bound_emulated.py.)"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest

from rig.devices.bpod import PROFILES, compile_machine
from rig.devices.bpod.compiler import CompileError, channel_problems
from rig.fsm.model import Output, State, StateMachine
from rig.fsm.water import longest_open, water_problems
from rig.schema import HardwareConfig, Protocol, load_model
from rig.session.operator import drop_machine
from rig.task.builder import build_trial
from tests.helpers import make_spec

ROOT = Path(__file__).resolve().parents[2]
VALVE = Output(channel="valve_left")
LIMIT = {"valve_left": 0.2}


def machine(*states: State) -> StateMachine:
    return StateMachine(name="m", states=states)


def pulse(seconds: float) -> Output:
    return Output(channel="valve_left", duration_s=seconds)


# The three reproductions (#14, item 3), each accepted under 0.2 s by the old bound.
HELD_THEN_PULSE = machine(  # open 0.300 s on the emulated Bpod
    State(name="Hold", timer_s=0.15, transitions={"Tup": "Pulse"}, outputs=(VALVE,)),
    State(name="Pulse", timer_s=0.15, transitions={"Tup": "exit"}, outputs=(pulse(0.15),)),
)
BACK_TO_BACK = machine(  # 0.290 s: the second pulse starts as the first ends
    State(name="First", timer_s=0.15, transitions={"Tup": "Second"}, outputs=(pulse(0.15),)),
    State(name="Second", timer_s=0.14, transitions={"Tup": "exit"}, outputs=(pulse(0.14),)),
)
RETRIGGERED = machine(  # the pulse restarted every 0.11 s until a lick: no end
    State(name="Give", timer_s=0.1, transitions={"Tup": "Wait"}, outputs=(pulse(0.15),)),
    State(name="Wait", timer_s=0.01, transitions={"Tup": "Give", "lick_left": "exit"}),
)


def test_a_pulse_is_open_its_duration() -> None:
    m = machine(State(name="R", timer_s=0.01, transitions={"Tup": "exit"},
                      outputs=(Output(channel="valve_left", duration_s=0.05),)))  # fmt: skip
    assert longest_open(m, "valve_left") == 0.05 and longest_open(m, "valve_right") == 0


def test_held_states_add_up_and_inputs_only_leave_earlier() -> None:
    m = machine(
        State(name="A", timer_s=0.1, transitions={"Tup": "B", "lick_left": "B"},
              outputs=(VALVE,)),
        State(name="B", timer_s=0.05, transitions={"Tup": "exit"}, outputs=(VALVE,)),
    )  # fmt: skip
    assert longest_open(m, "valve_left") == pytest.approx(0.15)


def test_a_valve_held_until_a_lick_or_in_a_loop_has_no_bound() -> None:
    until_lick = machine(State(name="A", timer_s=0.1, transitions={"lick_left": "exit"},
                               outputs=(VALVE,)))  # fmt: skip
    loop = machine(
        State(name="A", timer_s=0.1, transitions={"Tup": "B"}, outputs=(VALVE,)),
        State(name="B", timer_s=0.1, transitions={"Tup": "A", "lick_left": "exit"},
              outputs=(VALVE,)),
    )  # fmt: skip
    assert math.isinf(longest_open(until_lick, "valve_left"))
    assert math.isinf(longest_open(loop, "valve_left"))
    problems = water_problems(until_lick, {"valve_left": 0.2})
    assert problems == [
        "state machine 'm' can hold valve_left open with no end but an input; its maximum is "
        "0.2 s (hardware config valves.valve_left.max_open_s)"
    ]


def test_a_held_state_then_a_pulse_is_one_opening_of_both() -> None:
    assert longest_open(HELD_THEN_PULSE, "valve_left") == pytest.approx(0.3)  # was 0.15
    assert water_problems(HELD_THEN_PULSE, LIMIT) == [
        "state machine 'm' can hold valve_left open for 0.3 s; its maximum is 0.2 s "
        "(hardware config valves.valve_left.max_open_s)"
    ]


def test_two_pulses_back_to_back_are_one_opening() -> None:
    assert longest_open(BACK_TO_BACK, "valve_left") == pytest.approx(0.29)  # was 0.15
    restarted = machine(  # the same pulse again before it ends: restarted, 0.14 + 0.15
        State(name="A", timer_s=0.14, transitions={"Tup": "B"}, outputs=(pulse(0.15),)),
        State(name="B", timer_s=0.15, transitions={"Tup": "exit"}, outputs=(pulse(0.15),)),
    )
    assert longest_open(restarted, "valve_left") == pytest.approx(0.29)


def test_a_pulse_retriggered_in_a_loop_until_a_lick_has_no_bound() -> None:
    assert math.isinf(longest_open(RETRIGGERED, "valve_left"))  # was 0.15
    assert "with no end but an input" in water_problems(RETRIGGERED, LIMIT)[0]
    with pytest.raises(CompileError, match="can hold valve_left open with no end"):
        compile_machine(RETRIGGERED, PROFILES["r2-fw23"], {"valve_left": "Valve1",
                        "lick_left": "Port1"}, max_open_s=LIMIT)  # fmt: skip


def test_a_loop_where_the_valve_closes_each_pass_is_bounded() -> None:
    slow = machine(  # the pulse ends 0.05 s before it is given again
        State(name="Give", timer_s=0.1, transitions={"Tup": "Wait"}, outputs=(pulse(0.05),)),
        State(name="Wait", timer_s=0.01, transitions={"Tup": "Give", "lick_left": "exit"}),
    )
    assert longest_open(slow, "valve_left") == pytest.approx(0.05)


def test_an_input_can_come_at_any_instant() -> None:
    # left on a lick after d in [1 cycle, 0.1 s]: at d = 0.1 s the pulse, still running,
    # joins the held state's 0.05 s: 0.15 s, more than the pulse's 0.12 s
    m = machine(
        State(name="Give", timer_s=0.1, transitions={"Tup": "exit", "lick_left": "Hold"},
              outputs=(pulse(0.12),)),
        State(name="Hold", timer_s=0.05, transitions={"Tup": "exit"}, outputs=(VALVE,)),
    )  # fmt: skip
    assert longest_open(m, "valve_left") == pytest.approx(0.15)


def test_the_bpod_compiler_refuses_a_valve_open_past_its_maximum() -> None:
    two_s = machine(State(name="Flood", timer_s=2.0, transitions={"Tup": "exit"},
                          outputs=(VALVE,)))  # fmt: skip
    channels = {"valve_left": "Valve1"}
    hw = PROFILES["r2-fw23"]
    with pytest.raises(
        CompileError, match=r"can hold valve_left open for 2 s; its maximum is 0\.2"
    ):
        compile_machine(two_s, hw, channels, max_open_s={"valve_left": 0.2})
    compile_machine(two_s, hw, channels, max_open_s={"valve_left": 2.5})  # within its maximum


@pytest.mark.parametrize("config", ["sim.yaml", "bpod-emulator.yaml"])
def test_every_machine_the_rig_builds_is_within_the_maxima(config: str) -> None:
    hardware = load_model(ROOT / "hardware_configs" / config, HardwareConfig)
    limits = {name: v.max_open_s for name, v in hardware.valves.items()}
    wiring = hardware.channels  # each valve's device output, whatever else is on it
    built = 0
    for path in sorted((ROOT / "protocols").glob("*.yaml")):
        protocol = load_model(path, Protocol)
        stages = [None, *protocol.stages]
        for context, stage, side, free in itertools.product(
            protocol.contexts, stages, ("left", "right"), (False, True)
        ):
            m = build_trial(protocol, hardware, make_spec(protocol, context, stage, side, free))
            assert water_problems(m, limits, wiring) == [], (path.name, context, stage, side)
            built += 1
    for side in ("left", "right"):
        assert water_problems(drop_machine(hardware, side, 2.5), limits, wiring) == []
    assert built == 80  # 7 protocols: their contexts x (stages + none) x sides x free drop


# -- item 2: the bound is the Bpod output's, whatever rig channel an action came from -------
BPOD = PROFILES["r2-fw23"]
WIRED = {"lick_left": "Port1", "lick_right": "Port2", "valve_left": "Valve1",
         "valve_right": "Valve2", "pole_drop": "PWM3"}  # fmt: skip


@pytest.mark.parametrize(
    "output",
    [Output(channel="pole_drop"), Output(channel="pole_position", value=30),
     Output(channel="go_cue", duration_s=1.3), Output(channel="trial_ttl", duration_s=1.3)],
    ids=lambda o: o.channel,
)  # fmt: skip
def test_any_output_on_a_valves_bpod_output_counts_as_that_valve(output: Output) -> None:
    sample = machine(State(name="Sample", timer_s=1.3, transitions={"Tup": "exit"},
                           outputs=(output,)))  # fmt: skip
    channels = {**WIRED, output.channel: "Valve1"}  # what `pole_drop: Valve1` did
    assert water_problems(sample, LIMIT) == []  # by rig channel names: nothing seen (old check)
    with pytest.raises(
        CompileError,
        match=rf"can hold Valve1 \({output.channel}, valve_left\) open for 1.3 s; its maximum "
        r"is 0.2 s \(hardware config valves.valve_left.max_open_s\)",
    ):
        compile_machine(sample, BPOD, channels, max_open_s=LIMIT)
    compile_machine(sample, BPOD, {**WIRED, output.channel: "BNC2"}, max_open_s=LIMIT)


def test_a_valve_and_another_channel_on_one_output_add_up() -> None:
    # 0.15 s of valve then 0.15 s of pole drop on the same Bpod output: one 0.3 s opening
    m = machine(
        State(name="Reward", timer_s=0.15, transitions={"Tup": "Drop"}, outputs=(VALVE,)),
        State(name="Drop", timer_s=0.15, transitions={"Tup": "exit"},
              outputs=(Output(channel="pole_drop"),)),
    )  # fmt: skip
    wiring = {**WIRED, "pole_drop": "Valve1"}
    assert longest_open(m, "valve_left") == pytest.approx(0.15)
    assert water_problems(m, LIMIT, wiring)[0].startswith(
        "state machine 'm' can hold Valve1 (pole_drop, valve_left) open for 0.3 s"
    )


def test_a_channel_the_connected_bpod_lacks_stops_the_first_trial_before_it_is_sent() -> None:
    right = machine(State(name="Reward", timer_s=0.01, transitions={"Tup": "exit"},
                          outputs=(Output(channel="valve_right", duration_s=0.01),)))  # fmt: skip
    for channel, bpod, kind in (
        ("valve_left", "Valve5", "output"),
        ("lick_left", "Port5", "input"),
    ):
        with pytest.raises(
            CompileError,
            match=rf"'{channel}' is mapped to '{bpod}', not an {kind} of this "
            rf"Bpod \(hardware config channels.{channel}; its {kind}s: ",
        ):  # a right trial: the machine does not use the channel; the config is wrong anyway
            compile_machine(right, BPOD, {**WIRED, channel: bpod}, max_open_s=LIMIT)
    assert channel_problems(BPOD, WIRED) == []


def test_two_rig_inputs_on_one_bpod_input_are_one_event() -> None:
    shared = {**WIRED, "lick_right": "Port1"}  # shared_inputs: [[lick_left, lick_right]]
    both_one_way = machine(State(name="Wait", timer_s=1.0,
                                 transitions={"Tup": "exit", "lick_left": "exit",
                                              "lick_right": "exit"}))  # fmt: skip
    compile_machine(both_one_way, BPOD, shared)
    two_ways = machine(
        State(name="Wait", timer_s=1.0,
              transitions={"Tup": "exit", "lick_left": "Left", "lick_right": "exit"}),
        State(name="Left", timer_s=0.1, transitions={"Tup": "exit"}),
    )  # fmt: skip
    with pytest.raises(
        CompileError, match=r"state 'Wait': lick_left and lick_right are one Bpod event \(Port1In"
    ):
        compile_machine(two_ways, BPOD, shared)
