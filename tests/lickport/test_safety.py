"""The animal's safety and the line's robustness on the real firmware in the simulated
Uno: the host killed mid-reward, a valve asked to stay open too long, garbage both ways."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.devices.lickport import codec
from rig.devices.lickport.compiler import compile_blob
from rig.fsm.model import Output, State, StateMachine
from rig.sim.lickport.build import ensure_built
from rig.sim.lickport.harness import CYCLES_PER_S, Harness
from rig.sim.lickport.lockstep import Board, board
from rig.sim.lickport.world import WATCH

ROOT = Path(__file__).resolve().parents[2]
MS = CYCLES_PER_S // 1000


def reward(valve_s: float | None, state_s: float = 10.0) -> StateMachine:
    """A trial that opens the left valve at once: held for the state (None) or a pulse."""
    valve = Output(channel="valve_left", duration_s=valve_s)
    return StateMachine(
        name="reward",
        states=(
            State(name="Reward", timer_s=state_s, transitions={"Tup": "exit"}, outputs=(valve,)),
        ),
    )


@pytest.fixture
def lockstep() -> Iterator[Board]:
    with board([*WATCH]) as b:
        yield b


def configure(b: Board, *, heartbeat_ms: int, max_open_ms: int) -> None:
    ack = b.configure(heartbeat_ms=heartbeat_ms, max_open_ms=(max_open_ms, max_open_ms))
    assert isinstance(ack, codec.Ack) and ack.of == "C"


HOST = """
import sys, time
from rig.devices.lickport import codec
from rig.devices.lickport.client import LickportClient
from rig.devices.lickport.compiler import compile_blob
from rig.transport.serial_port import SerialTransport
from tests.lickport.test_safety import reward

client = LickportClient(SerialTransport(sys.argv[1], codec.BAUD))
client.connect(boot_s=30)
client.configure(debounce_us=1000, heartbeat_ms=250, max_open_ms=(1000, 1000), bitcode=False)
client.send_machine(compile_blob(reward(None)), 1)
print("queued", flush=True)
while True:  # a host alive: a heartbeat every 20 ms, until it is killed
    client.heartbeat()
    client.poll(0.02)
"""


def test_killing_the_host_mid_reward_closes_the_valve_by_the_watchdog() -> None:
    """A real host process queues a reward that holds the valve open for 10 s and is
    SIGKILLed the moment the valve opens; the board closes it 250 ms (its heartbeat
    timeout) after the last frame it got, plus at most one loop pass."""
    elf, binary = ensure_built()
    with Harness(binary, elf, watch=["PD6"]) as harness:
        host = subprocess.Popen(
            [sys.executable, "-c", HOST, harness.port], cwd=ROOT, stdout=subprocess.PIPE
        )
        try:
            opened = None
            while opened is None:  # the board runs only as we run it
                assert host.poll() is None, "the host died before the valve opened"
                for out in harness.run(harness.cycle + MS):
                    if out.pin == "PD6" and out.value == 1:
                        opened = out.cycle
                        break
            host.send_signal(signal.SIGKILL)  # the board is paused at the valve's edge
            host.wait(10)
            closed = None
            while closed is None and harness.cycle < opened + 2 * CYCLES_PER_S:
                for out in harness.run(harness.cycle + 10 * MS):
                    if out.pin == "PD6" and out.value == 0:
                        closed = out.cycle
        finally:
            if host.poll() is None:
                host.kill()
    assert closed is not None, "the valve stayed open"
    open_ms = (closed - opened) / MS
    # the last heartbeat came at most 20 ms of the host's wall time before the kill
    assert 250 - 25 <= open_ms <= 250 + 1, f"valve open {open_ms:.2f} ms"


def test_a_valve_asked_for_longer_than_its_maximum_is_cut_at_the_maximum(
    lockstep: Board,
) -> None:
    configure(lockstep, heartbeat_ms=60_000, max_open_ms=200)
    lockstep.client.send_machine(compile_blob(reward(2.0, state_s=2.5)), 1)
    opened = lockstep.run_until_edge("PD6", 1).cycle
    closed = lockstep.run_until_edge("PD6", 0).cycle
    # never longer than the maximum (the pin rises a little after the trial's start time,
    # which the cut counts from), and cut within a loop pass of it
    assert 199.8 <= (closed - opened) / MS <= 200.0
    lockstep.run_for(2.5)
    events = lockstep.events()
    (start,) = [e for e in events if e.kind == "trial_start"]
    (cut,) = [e for e in events if e.kind == "valve_cut"]
    assert cut.name == "valve_left" and cut.t_us - start.t_us == 200_000  # exactly
    # the machine's own pulse end still comes, at 2 s, and the trial ends at 2.5 s
    offs = [e for e in events if e.kind == "output" and e.name == "valve_left" and not e.value]
    assert [e.t_us - start.t_us for e in offs] == [2_000_000]
    (end,) = [e for e in events if e.kind == "trial_end"]
    assert end.t_us - start.t_us == 2_500_000


def test_garbage_from_the_host_is_reported_and_skipped(lockstep: Board) -> None:
    rng = random.Random(3)
    good = codec.hello()
    for _ in range(10):  # bursts of noise on the line, each followed by a good frame
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 90)))
        truncated = good[: rng.randrange(1, len(good) - 1)]
        lockstep.client.write(junk + b"\x00" + truncated + b"\x00" + good)
        lockstep.run_for(0.02)
    hellos = [m for m in lockstep.messages if isinstance(m, codec.Hello)]
    errors = [m for m in lockstep.messages if isinstance(m, codec.BoardError)]
    assert len(hellos) == 10  # every good frame answered, in spite of what came before
    assert len(errors) >= 10  # every truncated frame reported (junk may decode as noise)
    assert {e.code for e in errors} <= {1, 2, 3, 4, 5}
    lockstep.client.write(codec.heartbeat())
    status = lockstep.run_until_message(codec.Status)
    assert isinstance(status, codec.Status) and not status.running and not status.queued


class Garbling:
    """A transport that slips garbage between the board's frames (never inside one)."""

    def __init__(self, inner: object, rng: random.Random) -> None:
        self.inner, self.rng = inner, rng
        self.name = "garbled"
        self.injected = 0
        self.between = True  # the last byte read ended a frame

    def write(self, data: bytes) -> None:
        self.inner.write(data)  # type: ignore[attr-defined]

    def read(self, timeout: float) -> bytes:
        data: bytes = self.inner.read(timeout)  # type: ignore[attr-defined]
        if not data:
            return data
        inject = self.between and self.rng.random() < 0.3
        self.between = data.endswith(b"\x00")
        if inject:
            self.injected += 1
            return b"\x07garbage\x00" + data
        return data

    def close(self) -> None:
        self.inner.close()  # type: ignore[attr-defined]


def test_garbage_from_the_board_is_reported_and_nothing_is_lost(lockstep: Board) -> None:
    configure(lockstep, heartbeat_ms=60_000, max_open_ms=200)
    garbling = Garbling(lockstep.client.transport, random.Random(5))
    lockstep.client.transport = garbling
    machine = reward(0.05, state_s=0.1)
    for trial in range(1, 11):
        lockstep.client.send_machine(compile_blob(machine), trial)
        lockstep.run_for(0.15)
    events = lockstep.events()
    assert garbling.injected > 0 and len(lockstep.client.garbage) == garbling.injected
    assert [e.value for e in events if e.kind == "trial_start"] == list(range(1, 11))
    assert len([e for e in events if e.kind == "trial_end"]) == 10
    assert len([e for e in events if e.kind == "output"]) == 20  # valve on, off per trial
