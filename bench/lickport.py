"""Lick-port figures (issue 6): the real Uno firmware in the simulated ATmega328P, in
lockstep, so every figure is counted in simulated cycles (16 per microsecond).

- Input-to-output latency: a lick on the left line (set at an exact cycle, at a random
  phase of the firmware's main loop) to the left valve's pin rising, when the lick is the
  correct first lick of the answer period; 300 trials.
- Main-loop period, from the firmware's own histogram (``T``), over 60 simulated s of the
  T1 task's machines with a 30 Hz frame clock (1 ms pulses) and licks.
- Dead time between trials on the board's clock: 50 trials queued back to back.
- Flash and RAM use on the Uno (avr-size).
"""

from __future__ import annotations

import random
import statistics
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
    return figures | sizes()
