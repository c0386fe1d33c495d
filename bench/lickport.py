"""Lick-port figures (issue 6): the real Uno firmware in the simulated ATmega328P, in
lockstep, so every figure is counted in simulated cycles (16 per microsecond).

- Input-to-output latency: a lick on the left line (set at an exact cycle, at a random
  phase of the firmware's main loop) to the left valve's pin rising, when the lick is the
  correct first lick of the answer period; 300 trials.
- Main-loop period, from the firmware's own histogram (``T``), over 60 simulated s of the
  T1 task's machines with a 30 Hz frame clock (1 ms pulses) and licks.
- Dead time between trials on the board's clock: 50 trials queued back to back.
- Under the worst load (issue 17): seeded runs of the latency trials with the next trial's
  machine uploaded during each trial, a 30 Hz frame clock and lick bouts: lick-to-valve
  p50/p99/max per seed and their spread, the timestamp error of every lick and frame-clock
  edge (the board's stamp against the harness's cycle, on timer 0's phase), and the stack's
  high-water mark (the painted RAM the stack never reached).
- Flash and RAM use on the Uno (avr-size).
"""

from __future__ import annotations

import random
import statistics
import subprocess
from pathlib import Path
from typing import Any

from rig.devices.lickport import codec
from rig.devices.lickport.compiler import compile_blob
from rig.fsm.model import Output, State, StateMachine
from rig.schema import HardwareConfig, Protocol, load_model
from rig.sim.lickport.build import FIRMWARE_DIR
from rig.sim.lickport.harness import CYCLES_PER_S
from rig.sim.lickport.lockstep import Board, board
from rig.sim.lickport.world import WATCH
from rig.task.builder import build_trial
from rig.task.spec import TrialSpec

ROOT = Path(__file__).resolve().parents[1]
US = CYCLES_PER_S / 1e6


def _latency_machine() -> StateMachine:
    return StateMachine(
        name="answer",
        states=(
            State(
                name="ResponseCue",
                timer_s=0.001,
                transitions={"Tup": "AnswerPeriod"},
                outputs=(Output(channel="trial_ttl", duration_s=0.001),),
            ),
            State(
                name="AnswerPeriod",
                timer_s=4.0,
                transitions={"lick_left": "RewardLeft", "lick_right": "TimeOut", "Tup": "exit"},
            ),
            State(
                name="RewardLeft",
                timer_s=0.02,
                transitions={"Tup": "exit"},
                outputs=(Output(channel="valve_left", duration_s=0.02),),
            ),
            State(name="TimeOut", timer_s=0.01, transitions={"Tup": "exit"}),
        ),
    )


def latency(b: Board, trials: int = 300) -> dict[str, Any]:
    rng = random.Random(6)
    blob = compile_blob(_latency_machine())
    latencies = []
    for trial in range(1, trials + 1):
        b.client.send_machine(blob, trial)
        start = b.run_until_edge("PB4", 1).cycle
        b.run_to(start + round((0.002 + rng.random() * 0.01) * CYCLES_PER_S))
        lick = b.cycle
        b.harness.set("PD4", 1)
        valve = b.run_until_edge("PD6", 1, limit_s=0.01)
        latencies.append((valve.cycle - lick) / US)
        b.run_for(0.003)
        b.harness.set("PD4", 0)
        b.run_until_edge("PD6", 0)
        b.run_for(0.015)
    latencies.sort()
    return {
        "lick_to_valve_us_p50": round(statistics.median(latencies), 2),
        "lick_to_valve_us_p99": round(latencies[int(0.99 * len(latencies))], 2),
        "lick_to_valve_us_max": round(latencies[-1], 2),
        "lick_to_valve_trials": trials,
    }


def _t1_machines(n: int) -> list[StateMachine]:
    protocol = load_model(ROOT / "protocols/tactile_T1.yaml", Protocol)
    hardware = load_model(ROOT / "hardware_configs/lickport-emulator.yaml", HardwareConfig)
    rng = random.Random(7)
    return [
        build_trial(
            protocol,
            hardware,
            TrialSpec(
                i, "T1", "T1", 0, None, rng.choice(("left", "right")), rng.random() < 0.2, 1.3
            ),
        )
        for i in range(1, n + 1)
    ]


def loop_and_dead_time(b: Board, seconds: float = 120.0) -> dict[str, Any]:
    """T1 machines back to back with a 30 Hz frame clock (1 ms pulses); after each go cue
    a bout of four licks 140 ms apart on a random side, 30 ms contacts."""
    machines = iter(_t1_machines(1000))
    first = len(b.messages)  # what the latency part left is not this figure's
    b.client.write(codec.stats(reset=True))
    b.run_until_message(codec.LoopStats)
    trial = 1000
    b.client.send_machine(compile_blob(next(machines)), trial)
    rng = random.Random(8)
    frame_period = CYCLES_PER_S / 30
    t_end = b.cycle + seconds * CYCLES_PER_S
    next_frame, next_stats = float(b.cycle), b.cycle + CYCLES_PER_S
    licks: list[tuple[float, str, int]] = []  # (cycle, pin, level)
    queued, outputs_seen = 1, len(b.outputs)
    while b.cycle < t_end:
        started = sum(
            1 for m in b.messages[first:] if isinstance(m, codec.Event) and m.kind == "trial_start"
        )
        if started == queued:  # the last one sent has started: send the next
            trial += 1
            queued += 1
            b.client.send_machine(compile_blob(next(machines)), trial)
        for out in b.outputs[outputs_seen:]:
            if out.pin == "PB1" and 3000 < out.value < 4500:  # the go cue: a bout
                pin = rng.choice(("PD4", "PD5"))
                for k in range(4):
                    at = out.cycle + (0.2 + 0.14 * k) * CYCLES_PER_S
                    licks += [(at, pin, 1), (at + 0.03 * CYCLES_PER_S, pin, 0)]
        outputs_seen = len(b.outputs)
        licks.sort()
        upcoming = min(next_frame, next_stats, licks[0][0] if licks else t_end)
        b.run_to(round(upcoming))
        if upcoming == next_stats:
            b.client.write(codec.stats(reset=True))
            next_stats += CYCLES_PER_S
        elif upcoming == next_frame:
            b.harness.set("PD2", 1)
            b.run_for(0.001)
            b.harness.set("PD2", 0)
            next_frame += frame_period
        elif licks:
            _, pin, level = licks.pop(0)
            b.harness.set(pin, level)
    b.client.write(codec.stats(reset=True))
    b.run_until_message(codec.LoopStats)
    windows = [m for m in b.messages[first:] if isinstance(m, codec.LoopStats)][1:]
    hist = [sum(w.histogram[i] for w in windows) for i in range(16)]
    passes = sum(w.passes for w in windows)
    events = [m for m in b.messages[first:] if isinstance(m, codec.Event)]
    ends: dict[str, int] = {}
    gaps, durations, started_at = [], [], 0
    for e in events:
        if e.kind == "trial_end":
            ends["last"] = e.t_us
            durations.append((e.t_us - started_at) / 1e6)
        elif e.kind == "trial_start":
            started_at = e.t_us
            if "last" in ends:
                gaps.append(e.t_us - ends.pop("last"))
    frames = sum(1 for e in events if e.kind == "input" and e.name == "frame_clock")
    return {
        "loop_passes": passes,
        "loop_period_us_p50": _percentile(hist, 0.5),
        "loop_period_us_p99": _percentile(hist, 0.99),
        "loop_period_us_max": max(w.max_us for w in windows),
        "loop_histogram_4us_buckets": hist,
        "frame_clock_pulses_sent": round(seconds * 30),
        "frame_clock_events": frames,
        "dead_time_us": sorted(set(gaps)),
        "trials_back_to_back": len(gaps) + 1,
        "trial_s_median": round(statistics.median(durations), 3) if durations else None,
    }


def _percentile(hist: list[int], q: float) -> str:
    """The bucket holding the q-quantile, as a range in microseconds."""
    total, seen = sum(hist), 0
    for bucket, count in enumerate(hist):
        seen += count
        if seen >= q * total:
            return f"{4 * bucket}-{4 * bucket + 4}" if bucket < 15 else ">= 60"
    return ">= 60"


RAMEND = 0x8FF
PAINT = 0xC5
LINE_PIN = {"lick_left": "PD4", "lick_right": "PD5", "frame_clock": "PD2"}


def peek(b: Board, addr: int, length: int) -> bytes:
    """The board's RAM, read by the harness (firmware/sim/README.md)."""
    b.harness._send(f"peek {addr} {length}")
    return bytes.fromhex(b.harness._line().removeprefix("mem "))


def clock_origin(b: Board) -> int:
    """The cycle at which the board's micros() was 0 (timer 0 starts in the first ms)."""
    b.harness._send("timer0")
    _, base, cycles = b.harness._line().split()
    return int(base) % int(cycles)


def stack_spare(b: Board) -> dict[str, int]:
    """The painted bytes between the end of .bss and the lowest the stack reached."""
    elf = FIRMWARE_DIR / "build" / "uno" / "lickport.elf"
    nm = subprocess.run(["avr-nm", str(elf)], capture_output=True, text=True, check=True)
    end = next(
        int(w[0], 16) & 0xFFFF for w in map(str.split, nm.stdout.splitlines()) if w[-1] == "_end"
    )
    ram = peek(b, end, RAMEND + 1 - end)
    spare = next((i for i, byte in enumerate(ram) if byte != PAINT), len(ram))
    return {
        "free_ram_bytes": len(ram),
        "stack_bytes_used": len(ram) - spare,
        "stack_spare_bytes": spare,
    }


class Load:
    """Drives a 30 Hz frame clock (1 ms pulses) while the board runs: edges as set."""

    def __init__(self, b: Board) -> None:
        self.b = b
        self.next_frame = float(b.cycle)
        self.edges: list[tuple[int, str, int]] = []  # (cycle, pin, level)

    def set(self, pin: str, level: int) -> None:
        self.b.harness.set(pin, level)
        self.edges.append((self.b.cycle, pin, level))

    def run_to(self, cycle: int) -> None:
        while self.next_frame < cycle:
            self.b.run_to(round(self.next_frame))
            self.set("PD2", 1)
            self.b.run_to(round(self.next_frame + 0.001 * CYCLES_PER_S))
            self.set("PD2", 0)
            self.next_frame += CYCLES_PER_S / 30
        self.b.run_to(cycle)

    def until_edge(
        self, pin: str, value: int, limit_s: float = 0.05, since: int | None = None
    ) -> int:
        """The cycle of the first such edge among the outputs from `since` (default: now)."""
        seen = len(self.b.outputs) if since is None else since
        end = self.b.cycle + round(limit_s * CYCLES_PER_S)
        while self.b.cycle < end:
            self.run_to(min(end, self.b.cycle + round(0.0005 * CYCLES_PER_S)))
            for out in self.b.outputs[seen:]:
                if out.pin == pin and out.value == value:
                    return out.cycle
            seen = len(self.b.outputs)
        raise TimeoutError(f"{pin} never went to {value}")


def loaded(b: Board, seed: int, trials: int = 60) -> dict[str, Any]:
    """Lick to valve with the next trial uploaded during each trial, the frame clock on, and
    a bout of licks (the first correct, then right-side licks in the reward); every input
    edge's stamp against its true time."""
    rng = random.Random(seed)
    blob = compile_blob(_latency_machine())
    load, latencies = Load(b), []
    first_event = len(b.messages)
    b.client.send_machine(blob, 10_000 * seed)
    since = len(b.outputs)
    for trial in range(10_000 * seed + 1, 10_000 * seed + trials + 1):
        start = load.until_edge("PB4", 1, limit_s=1.0, since=since)
        if trial < 10_000 * seed + trials:  # the next one, uploaded during this one
            b.client.send_machine(blob, trial)
        load.run_to(start + round((0.0015 + rng.random() * 0.004) * CYCLES_PER_S))
        lick = b.cycle
        load.set("PD4", 1)
        latencies.append((load.until_edge("PD6", 1) - lick) / US)
        for k in range(3):  # the bout goes on on the right, in the reward (no transition)
            load.run_to(lick + round((0.003 + 0.004 * k) * CYCLES_PER_S))
            load.set("PD5", 1)
            load.run_to(b.cycle + round(0.0015 * CYCLES_PER_S))
            load.set("PD5", 0)
        load.run_to(lick + round(0.016 * CYCLES_PER_S))
        load.set("PD4", 0)
        since = len(b.outputs)  # the next trial starts as the valve closes
        load.until_edge("PD6", 0)
    load.run_to(b.cycle + round(0.1 * CYCLES_PER_S))
    errors = stamp_errors(b, load.edges, b.messages[first_event:])
    latencies.sort()
    return {
        "seed": seed,
        "trials": trials,
        "lick_to_valve_us": [
            round(statistics.median(latencies), 2),
            round(latencies[int(0.99 * len(latencies))], 2),
            round(latencies[-1], 2),
        ],
        "stamp_error_us": [round(min(errors), 2), round(max(errors), 2)],
        "edges_stamped": len(errors),
    }


def stamp_errors(b: Board, edges: list[tuple[int, str, int]], messages: list[Any]) -> list[float]:
    """Each input event's stamp minus its edge's true time on the board's clock (the
    nearest edge of the same line and level)."""
    c0 = clock_origin(b)
    by_kind: dict[tuple[str, int], list[float]] = {}
    for cycle, pin, level in edges:
        by_kind.setdefault((pin, level), []).append((cycle - c0) / US)
    errors = []
    for m in messages:
        if not (isinstance(m, codec.Event) and m.kind == "input" and m.name != "Tup"):
            continue
        line = m.name.removesuffix("_off")
        true = by_kind.get((LINE_PIN[line], int(not m.name.endswith("_off"))), [])
        if true:
            errors.append(min((m.t_us - t for t in true), key=abs))
    return errors


def worst_load(seeds: tuple[int, ...] = (1, 2, 3, 4, 5), trials: int = 60) -> dict[str, Any]:
    """Seeded runs on one board; the stack's high-water mark after all of them."""
    with board([*WATCH, "PB3"]) as b:
        b.configure(heartbeat_ms=60_000, max_open_ms=(200, 200), bitcode=True)
        runs = [loaded(b, seed, trials) for seed in seeds]
        stack = stack_spare(b)
    maxima = [r["lick_to_valve_us"][2] for r in runs]
    return {
        "worst_load_runs": runs,
        "worst_load_lick_to_valve_us_max_spread": [min(maxima), max(maxima)],
        "worst_load_p99_spread": [
            min(r["lick_to_valve_us"][1] for r in runs),
            max(r["lick_to_valve_us"][1] for r in runs),
        ],
        "worst_load_stamp_error_us": [
            min(r["stamp_error_us"][0] for r in runs),
            max(r["stamp_error_us"][1] for r in runs),
        ],
        **stack,
    }


def sizes() -> dict[str, Any]:
    text = (FIRMWARE_DIR / "build" / "uno" / "size.txt").read_text()
    mega = FIRMWARE_DIR / "build" / "mega" / "size.txt"
    return {
        "uno_size": text.strip(),
        "mega_size": mega.read_text().strip() if mega.exists() else "",
    }


def run() -> dict[str, Any]:
    with board([*WATCH, "PB3"]) as b:
        b.configure(heartbeat_ms=60_000, max_open_ms=(200, 200), bitcode=True)
        figures = latency(b)
        figures |= loop_and_dead_time(b)
    return figures | worst_load() | sizes()
