"""The emulated Bpod firmware, driven cycle by cycle, read back with the rig's own decoder.

Also: the same state machine and the same lick timeline on the reference executor and on
the emulated Bpod report the same events at the same cycles (the executors' contract).
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from rig.devices.bpod import PROFILES, compile_machine
from rig.devices.bpod import commands as cmd
from rig.devices.bpod.decoder import Decoder, Events, Reply, TrialEnd, TrialStart
from rig.fsm.executor import ReferenceExecutor
from rig.schema import HardwareConfig, Protocol, load_model
from rig.sim.bpod import BpodFirmware
from rig.task.builder import build_trial
from tests.contract.test_bpod_compiler_golden import APPENDIX_A, CHANNELS
from tests.helpers import make_spec


def connected(profile: str) -> BpodFirmware:
    fw = BpodFirmware(PROFILES[profile])
    fw.receive(cmd.HANDSHAKE)
    fw.tick()
    assert fw.read() == b"5"
    for _ in range(1000):  # deaf for 100 ms after the handshake
        fw.tick()
    fw.receive(cmd.event_allocation(fw.hw.default_allocation()))
    fw.receive(cmd.enable_inputs([True] * len(fw.hw.inputs)))
    for _ in range(2):
        fw.tick()
    assert fw.read() == b"\x01\x01"
    return fw


def test_discovery_bytes_until_the_handshake() -> None:
    fw = BpodFirmware(PROFILES["r2-fw23"])
    for _ in range(3000):
        fw.tick()
    assert fw.read() == b"\xde\xde\xde"
    fw.receive(b"6F")
    fw.tick()
    assert fw.read() == b"5"
    for _ in range(999):
        fw.tick()
    assert fw.read() == b""  # deaf for 100 ms: 'F' waits
    fw.tick()
    assert fw.read() == struct.pack("<HH", 23, 3)
    for _ in range(3000):
        fw.tick()
    assert fw.read() == b""  # no discovery bytes while connected


@pytest.mark.parametrize("profile", ["r2-fw22", "r2-fw23", "2plus-fw23"])
def test_identification_replies_decode(profile: str) -> None:
    fw = connected(profile)
    decoder = Decoder()
    hw = PROFILES[profile]
    for command, kind in ((b"F", "firmware"), (b"H", "hardware"), (b"G", "timestamps")):
        fw.receive(command)
        decoder.expect(kind, firmware=hw.firmware)  # type: ignore[arg-type]
    for _ in range(5):
        fw.tick()
    replies = [m for m in decoder.feed(fw.read()) if isinstance(m, Reply)]
    assert replies[0].value == (hw.firmware, hw.machine_type)
    assert replies[1].value.inputs == hw.inputs  # type: ignore[attr-defined]
    assert replies[2].value == 1


def test_fw22_ignores_fw23_commands() -> None:
    fw = connected("r2-fw22")
    fw.receive(b"fvG")
    for _ in range(3):
        fw.tick()
    assert fw.read() == b"\x01"  # only 'G' answered


def run_until_idle(
    fw: BpodFirmware, levels: dict[int, list[tuple[int, int]]] | None = None
) -> bytes:
    """Tick until the trial (and any queued one) ends; ``levels``: tick -> [(input, level)]."""
    out = b""
    for _ in range(200_000):
        fw.tick()
        out += fw.read()
        for index, level in (levels or {}).get(fw.cycle, []):
            fw.levels[index] = level
        if not fw.running and not fw.starting:
            return out
    raise AssertionError("the trial never ended")


def test_the_reference_trace_of_appendix_a() -> None:
    """Section 4.4: start, Tup at 500, Tup at 3500, end at 3500 (no licks)."""
    fw = connected("r2-fw23")
    fw.receive(compile_machine(APPENDIX_A, fw.hw, CHANNELS).message)
    decoder = Decoder(events=174)
    decoder.expect_trial(new_machine=True)
    messages = decoder.feed(run_until_idle(fw))
    start = messages[0]
    assert isinstance(start, TrialStart) and start.confirmed is True
    assert [(m.codes, m.cycle) for m in messages if isinstance(m, Events)] == [
        ((173,), 500),
        ((173,), 3500),
    ]
    end = messages[-1]
    assert isinstance(end, TrialEnd) and (end.cycle, end.cycles_completed) == (3500, 3500)
    assert end.end_us - start.start_us == 3500 * 100  # device times from the cycle counter


def test_outputs_follow_the_states_and_timers() -> None:
    fw = connected("r2-fw23")
    seen: list[tuple[int, int, int]] = []
    fw.on_output = lambda index, value: seen.append((fw.cycle, index, value))
    from tests.contract.test_bpod_compiler_golden import PULSE

    fw.receive(compile_machine(PULSE, fw.hw, CHANNELS).message)
    run_until_idle(fw)
    start = seen[0][0]
    relative = [(c - start, i, v) for c, i, v in seen]
    valve2, bnc2 = fw.hw.output_index("Valve2"), fw.hw.output_index("BNC2")
    # the timer's end is handled before the Tup transition of the same cycle
    assert relative == [(0, valve2, 1), (300, valve2, 0), (300, bnc2, 1), (10300, bnc2, 0)]


def test_runasap_queues_the_next_trial_with_one_cycle_of_dead_time() -> None:
    fw = connected("r2-fw23")
    message = compile_machine(APPENDIX_A, fw.hw, CHANNELS).message
    fw.receive(message)
    for _ in range(100):
        fw.tick()
    fw.receive(message)  # the next trial, sent while the first runs
    decoder = Decoder(events=174)
    decoder.expect_trial(new_machine=True)
    decoder.expect_trial(new_machine=True)
    stream = b"".join(fw.read() for _ in range(1)) + run_until_idle(fw)
    messages = decoder.feed(stream)
    starts = [m for m in messages if isinstance(m, TrialStart)]
    ends = [m for m in messages if isinstance(m, TrialEnd)]
    assert len(starts) == 2 and len(ends) == 2
    assert starts[1].start_us - ends[0].end_us == 100  # the tick after the exit
    assert ends[1].cycles_completed == ends[1].cycle + 1  # the firmware's quirk


def test_force_exit_ends_the_trial_now_and_answers_when_idle() -> None:
    fw = connected("r2-fw23")
    fw.receive(compile_machine(APPENDIX_A, fw.hw, CHANNELS).message)
    for _ in range(50):
        fw.tick()
    fw.receive(cmd.FORCE_EXIT)
    fw.tick()
    decoder = Decoder(events=174)
    decoder.expect_trial(new_machine=True)
    messages = decoder.feed(fw.read())
    # tick 1 took the 'C', tick 2 was cycle 0, ticks 3-50 cycles 1-48; 'X' ends it in tick 51
    assert isinstance(messages[-1], TrialEnd) and messages[-1].cycle == 48
    fw.receive(cmd.FORCE_EXIT)
    fw.tick()
    assert fw.read()[:3] == b"\x01\x01\xff"


# -- the executors' contract: same machine, same licks -> same events at the same cycles --------
# A Bpod r2 wired for the task: lick ports 1-2 (their PWM lines free), BNC1 trial TTL,
# BNC2 go cue gate, PWM1-2 sample tone gates, PWM3 pole drop, PWM4 pole position.
WIRING = {
    "lick_left": "Port1",
    "lick_right": "Port2",
    "frame_clock": "BNC1",
    "valve_left": "Valve1",
    "valve_right": "Valve2",
    "trial_ttl": "BNC1",
    "go_cue": "BNC2",
    "sample_tone_high": "PWM1",
    "sample_tone_low": "PWM2",
    "pole_drop": "PWM3",
    "pole_position": "PWM4",
}
BPOD_TO_RIG = {
    "Port1In": "lick_left",
    "Port1Out": "lick_left_off",
    "Port2In": "lick_right",
    "Port2Out": "lick_right_off",
    "Tup": "Tup",
}


def on_reference(machine: object, licks: list[tuple[int, str, int]]) -> list[tuple[int, str]]:
    ex = ReferenceExecutor()
    ex.load(machine, 1)  # type: ignore[arg-type]
    ex.start(1)
    timeline = sorted(licks)
    events = []
    while ex.running or ex.has_queued:
        deadline = ex.next_deadline()
        nxt = timeline[0][0] + 1 if timeline else None
        cycle = min(c for c in (deadline, nxt) if c is not None)
        edges = [(ch, lv) for c, ch, lv in timeline if c + 1 == cycle]
        timeline = [x for x in timeline if x[0] + 1 != cycle]
        for r in ex.tick(cycle, edges):
            if r.kind == "input":
                events.append((r.cycle - 1, r.name))
    return events


def on_bpod(
    machine: object, licks: list[tuple[int, str, int]], profile: str
) -> list[tuple[int, str]]:
    fw = connected(profile)
    names = fw.hw.event_names()
    index = {"lick_left": fw.hw.input_index("Port1"), "lick_right": fw.hw.input_index("Port2")}
    fw.receive(compile_machine(machine, fw.hw, WIRING).message)  # type: ignore[arg-type]
    fw.tick()  # the command's tick; the trial's cycle 0 is the next one
    start = fw.cycle + 1
    levels: dict[int, list[tuple[int, int]]] = {}
    for cycle, channel, level in licks:  # a level set after tick t is seen at tick t + 1
        levels.setdefault(start + cycle - 1, []).append((index[channel], level))
    decoder = Decoder(events=len(names))
    decoder.expect_trial(new_machine=True)
    messages = decoder.feed(fw.read() + run_until_idle(fw, levels))
    return [
        (m.cycle, BPOD_TO_RIG[names[code]])
        for m in messages
        if isinstance(m, Events)
        for code in m.codes
        if names[code] in BPOD_TO_RIG
    ]


@pytest.mark.parametrize("profile", ["r2-fw22", "r2-fw23", "2plus-fw23"])
@pytest.mark.parametrize("seed", range(4))
def test_reference_executor_and_emulated_bpod_agree(root: Path, profile: str, seed: int) -> None:
    protocol = load_model(root / "protocols/tactile_T1.yaml", Protocol)
    hardware = load_model(root / "hardware_configs/sim.yaml", HardwareConfig)
    rng = random.Random(seed)
    side = rng.choice(("left", "right"))
    machine = build_trial(protocol, hardware, make_spec(protocol, "T1", None, side))
    licks: list[tuple[int, str, int]] = []
    t = 0
    for _ in range(rng.randint(3, 12)):  # lick bouts anywhere in the trial
        t += rng.randint(200, 9000)
        channel = rng.choice(("lick_left", "lick_right"))
        licks += [(t, channel, 1), (t + rng.randint(100, 600), channel, 0)]
        t += 700
    reference = on_reference(machine, licks)
    bpod = on_bpod(machine, licks, profile)
    assert bpod == reference
    assert any(name == "Tup" for _, name in reference)
    assert sum(name.startswith("lick") for _, name in reference) >= 6  # licks were seen
