"""Water safety on the Bpod (which has no limit of its own): the compiler refuses any
machine that could hold a valve open past its configured maximum; every machine the rig
builds is within it. (The lick-port board limits valves itself: tests/lickport/test_safety.py.)"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest

from rig.devices.bpod import PROFILES, compile_machine
from rig.devices.bpod.compiler import CompileError
from rig.fsm.model import Output, State, StateMachine
from rig.fsm.water import longest_open, water_problems
from rig.schema import HardwareConfig, Protocol, load_model
from rig.session.operator import drop_machine
from rig.task.builder import build_trial
from tests.helpers import make_spec

ROOT = Path(__file__).resolve().parents[2]
VALVE = Output(channel="valve_left")


def machine(*states: State) -> StateMachine:
    return StateMachine(name="m", states=states)


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
    built = 0
    for path in sorted((ROOT / "protocols").glob("*.yaml")):
        protocol = load_model(path, Protocol)
        stages = [None, *protocol.stages]
        for context, stage, side, free in itertools.product(
            protocol.contexts, stages, ("left", "right"), (False, True)
        ):
            m = build_trial(protocol, hardware, make_spec(protocol, context, stage, side, free))
            assert water_problems(m, limits) == [], (path.name, context, stage, side, free)
            built += 1
    for side in ("left", "right"):
        assert water_problems(drop_machine(hardware, side, 2.5), limits) == []
    assert built == 64  # 5 protocols: their contexts x (stages + none) x sides x free drop
