"""Golden bytes: ``'C'`` messages written out by hand from ``reference/bpod-serial-protocol.md``
(section 3.2 layout, section 7 indices, the Appendix A captures), not from the compiler.

Each expected message is spelled section by section, with the reference's numbers:
r2 FW22: Port1In 94, BNC1High 90, Port2In 96; outputs BNC1 6, BNC2 7, PWM1 8, Valve1 12.
r2 FW23: Port1In 109, BNC1High 105, Port2In 111; outputs BNC1 7, BNC2 8, PWM1 9, Valve1 13.
2+ FW23: Port1In 87, BNC1High 83, Port2In 89; outputs BNC1 9, BNC2 10, PWM1 11, Valve1 16.
Bpod 0.7-1.0 FW22 (machine type 2): BNC1High 60, Port2In 70; BNC2 5, Valve2 18; 5 timers.
"""

from __future__ import annotations

import pytest

from rig.devices.bpod import PROFILES, CompileError, compile_machine
from rig.fsm.model import EXIT, Output, State, StateMachine

CHANNELS = {
    "lick_left": "Port1",
    "lick_right": "Port2",
    "frame_clock": "BNC1",
    "pole_position": "PWM1",
    "trial_ttl": "BNC1",
    "go_cue": "BNC2",
    "valve_left": "Valve1",
    "valve_right": "Valve2",
}

# The machine of Appendix A without its soft code: A (0.05 s; PWM1 = 255, BNC1 = 1,
# Valve1 = 1 held) -> B (0.3 s; Port1In back to A; Tup to exit).
APPENDIX_A = StateMachine(
    states=(
        State(
            name="A",
            timer_s=0.05,
            transitions={"Tup": "B"},
            outputs=(
                Output(channel="pole_position", value=255),
                Output(channel="trial_ttl"),
                Output(channel="valve_left"),
            ),
        ),
        State(name="B", timer_s=0.3, transitions={"lick_left": "A", "Tup": EXIT}),
    )
)

# A valve pulse timed by a global timer: Reward (30 ms; Valve2 pulse 30 ms) -> Wait (1 s;
# BNC2 held; Port2In -> exit, BNC1High -> Reward, Tup -> exit).
PULSE = StateMachine(
    states=(
        State(
            name="Reward",
            timer_s=0.03,
            transitions={"Tup": "Wait"},
            outputs=(Output(channel="valve_right", duration_s=0.03),),
        ),
        State(
            name="Wait",
            timer_s=1.0,
            transitions={"lick_right": EXIT, "frame_clock": "Reward", "Tup": EXIT},
            outputs=(Output(channel="go_cue"),),
        ),
    )
)

TIMERS = "F4 01 00 00  B8 0B 00 00"  # 500 and 3000 cycles
GOLDEN = {
    ("appendix_a", "r2-fw22"): (
        "43 01 00 2C 00"  # 'C', RunASAP, no back signal, 44 body bytes
        " 02 00 00 00"  # 2 states, no timers, counters, conditions
        " 01 02"  # Tup: A -> B, B -> exit (2)
        " 00  01 5E 00"  # inputs: A none; B: Port1In (94) -> A
        " 03 08 FF 06 01 0C 01  00"  # outputs: A PWM1=255 BNC1=1 Valve1=1; B none
        " 00 00 00 00 00 00 00 00"  # timer start/end, counter, condition transitions
        " 00 00"  # FW22: dense counter reset per state
        " 00 00 00 00  00 00 00 00"  # timer trigger and cancel masks, u16 (16 timers)
        f" {TIMERS}"
    ),
    ("appendix_a", "r2-fw23"): (
        "43 01 00 2C 00"
        " 02 00 00 00  01 02"
        " 00  01 6D 00"  # Port1In = 109
        " 03 09 FF 07 01 0D 01  00"  # PWM1 9, BNC1 7, Valve1 13
        " 00 00 00 00 00 00 00 00"
        " 00"  # FW23: counter-reset list, count 0
        " 00 00 00 00  00 00 00 00"
        f" {TIMERS}"
        " 00"  # FW23: no extra operations
    ),
    ("appendix_a", "2plus-fw23"): (
        "43 01 00 36 00"
        " 02 00 00 00  01 02"
        " 00  01 57 00"  # Port1In = 87
        " 03 00 0B 00 FF 00 09 00 01 00 10 00 01 00  00 00"  # u16 outputs
        " 00 00 00 00 00 00 00 00"
        " 00  00 00"  # counter resets; analogue thresholds enable/disable: none
        " 00 00 00 00  00 00 00 00"
        f" {TIMERS}"
        " 00"
    ),
    ("pulse", "r2-fw23"): (
        "43 01 00 3D 00"  # 61 body bytes
        " 02 01 00 00"  # one global timer
        " 01 02"
        " 00  02 69 00 6F 02"  # Wait: BNC1High (105) -> Reward, Port2In (111) -> exit
        " 00  01 08 01"  # outputs: Reward none (the pulse is a timer); Wait BNC2 = 1
        " 00 00 00 00 00 00 00 00"
        " 0E 01 00 00 00"  # timer 1: channel Valve2 (14), on 1, off 0, one shot, no events
        " 00"
        " 01 00 00 00"  # trigger masks: Reward starts timer 1
        " 00 00 00 00"  # cancel masks
        " 00 00"  # onset triggers of timer 1
        " 2C 01 00 00  10 27 00 00"  # state timers: 300, 10000 cycles
        " 2C 01 00 00  00 00 00 00  00 00 00 00"  # timer 1: 300 cycles, no delay, no loop
        " 00"
    ),
    ("pulse", "2plus-fw23"): (
        "43 01 00 45 00"  # 69 body bytes
        " 02 01 00 00  01 02"
        " 00  02 53 00 59 02"  # BNC1High 83, Port2In 89
        " 00 00  01 00 0A 00 01 00"  # u16 outputs: Wait BNC2 (10) = 1
        " 00 00 00 00 00 00 00 00"
        " 11 01 00 00 00 00 00"  # timer 1: Valve2 (17), on u16 1, off u16 0, 0, 0
        " 00  00 00"
        " 01 00 00 00  00 00 00 00  00 00"
        " 2C 01 00 00  10 27 00 00"
        " 2C 01 00 00  00 00 00 00  00 00 00 00"
        " 00"
    ),
    ("pulse", "r2-fw22"): (
        "43 01 00 3D 00"
        " 02 01 00 00  01 02"
        " 00  02 5A 00 60 02"  # BNC1High 90, Port2In 96
        " 00  01 07 01"  # BNC2 = 7
        " 00 00 00 00 00 00 00 00"
        " 0D 01 00 00 00"  # Valve2 = 13
        " 00 00"
        " 01 00 00 00  00 00 00 00  00 00"
        " 2C 01 00 00  10 27 00 00"
        " 2C 01 00 00  00 00 00 00  00 00 00 00"
    ),
    ("pulse", "r1-fw22"): (
        "43 01 00 38 00"  # 56 body bytes
        " 02 01 00 00  01 02"
        " 00  02 3C 00 46 02"  # BNC1High 60, Port2In 70
        " 00  01 05 01"  # BNC2 = 5
        " 00 00 00 00 00 00 00 00"
        " 12 01 00 00 00"  # Valve2 = 18
        " 00 00"
        " 01 00  00 00  00"  # u8 masks: 5 timers at most
        " 2C 01 00 00  10 27 00 00"
        " 2C 01 00 00  00 00 00 00  00 00 00 00"
    ),
}
MACHINES = {"appendix_a": APPENDIX_A, "pulse": PULSE}


@pytest.mark.parametrize(("machine", "profile"), sorted(GOLDEN))
def test_compiled_bytes_match_the_hand_built_message(machine: str, profile: str) -> None:
    compiled = compile_machine(MACHINES[machine], PROFILES[profile], CHANNELS)
    assert compiled.message.hex(" ").upper() == " ".join(GOLDEN[(machine, profile)].split())


def test_header_counts_the_body() -> None:
    message = compile_machine(PULSE, PROFILES["r2-fw23"], CHANNELS, run_asap=False).message
    assert message[:3] == b"C\x00\x00"
    assert int.from_bytes(message[3:5], "little") == len(message) - 5


def test_equal_pulses_share_one_timer_and_different_ones_do_not() -> None:
    pulse = Output(channel="valve_left", duration_s=0.02)
    machine = StateMachine(
        states=(
            State(name="a", timer_s=0.1, transitions={"Tup": "b"}, outputs=(pulse,)),
            State(name="b", timer_s=0.1, transitions={"Tup": "c"}, outputs=(pulse,)),
            State(
                name="c",
                timer_s=0.1,
                transitions={"Tup": EXIT},
                outputs=(Output(channel="valve_left", duration_s=0.04),),
            ),
        )
    )
    compiled = compile_machine(machine, PROFILES["r2-fw23"], CHANNELS)
    assert compiled.timers == (("Valve1", 1, 200), ("Valve1", 1, 400))


def test_unmapped_or_missing_channels_are_refused() -> None:
    with pytest.raises(CompileError, match="'lick_left' is not mapped"):
        unmapped = {k: v for k, v in CHANNELS.items() if k != "lick_left"}
        compile_machine(APPENDIX_A, PROFILES["r2-fw23"], unmapped)
    with pytest.raises(CompileError, match="'valve_left' is mapped to 'Valve9', not an output"):
        compile_machine(APPENDIX_A, PROFILES["r2-fw23"], {**CHANNELS, "valve_left": "Valve9"})


def test_too_many_pulses_for_the_timers_are_refused() -> None:
    states = tuple(
        State(
            name=f"s{i}",
            timer_s=0.01,
            transitions={"Tup": f"s{i + 1}" if i < 5 else EXIT},
            outputs=(Output(channel="valve_left", duration_s=0.001 * (i + 1)),),
        )
        for i in range(6)
    )
    with pytest.raises(CompileError, match="6 pulses need global timers; this Bpod has 5"):
        compile_machine(StateMachine(states=states), PROFILES["r1-fw22"], CHANNELS)
