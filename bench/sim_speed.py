"""Simulation speed and trial build + compile time.

- A 500-trial session of ``protocols/tactile_T1.yaml`` on the simulated rig, virtual time,
  with every session file written: wall seconds and the ratio of task time (device time at
  the last trial's end) to wall time. Run with and without an fsync per trial (the default
  on virtual time is without; real rigs sync every trial). Median of several runs.
- Trial build + compile on the host, per trial: selection, ``build_trial`` (build and
  validate the state machine), its content hash, and the executor's compile step; median
  and p99 over 2,000 trials of the continual-learning protocol. (In a session the planner
  reuses the machine of an identical earlier trial, so most trials cost far less.)
- ``rig simulate`` of 10 mice through the continual-learning curriculum in one process:
  wall seconds and simulated trials per second.
"""

from __future__ import annotations

import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rig.fsm.executor import compile_machine
from rig.schema import HardwareConfig, Protocol, load_model
from rig.session.cohort import simulate_cohort
from rig.session.planner import TrialPlanner
from rig.session.session import SessionRequest, run_session
from rig.task.builder import build_trial

ROOT = Path(__file__).resolve().parents[1]
TRIALS = 500
REPEATS = 5


def _session(fsync: bool, seed: int) -> tuple[float, float]:
    protocol = load_model(ROOT / "protocols/tactile_T1.yaml", Protocol)
    hardware = load_model(ROOT / "hardware_configs/sim.yaml", HardwareConfig)
    with tempfile.TemporaryDirectory() as tmp:
        request = SessionRequest(
            protocol, hardware, "bench", TRIALS, seed, Path(tmp), fsync_each_trial=fsync
        )
        start = time.perf_counter()
        outcome = run_session(request)
        wall = time.perf_counter() - start
        lines = (outcome.session_dir / "trials.jsonl").read_text().splitlines()
        task_s = float(json.loads(lines[-1])["t_end"])
    return wall, task_s


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _build_times() -> list[float]:
    protocol = load_model(ROOT / "protocols/continual_learning.yaml", Protocol)
    hardware = load_model(ROOT / "hardware_configs/sim.yaml", HardwareConfig)
    planner = TrialPlanner(protocol, hardware, random.Random(0))
    times = []
    for trial in range(1, 2001):
        start = time.perf_counter()
        plan = planner.next_trial(trial)
        machine = build_trial(protocol, hardware, plan.spec)  # uncached: the full cost
        _ = machine.content_hash
        compile_machine(machine)
        times.append(time.perf_counter() - start)
        outcome = random.Random(trial).choice(["hit", "error"])
        planner.decided(plan.spec, outcome, False, plan.spec.free_drop)
    return times


def _cohort() -> dict[str, Any]:
    """``rig simulate`` of 10 mice over the continual-learning curriculum, one process."""
    protocol = load_model(ROOT / "protocols/continual_learning.yaml", Protocol)
    hardware = load_model(ROOT / "hardware_configs/sim.yaml", HardwareConfig)
    start = time.perf_counter()
    result = simulate_cohort(protocol, hardware, mice=10, seed=1, workers=1)
    wall = time.perf_counter() - start
    trials = sum(v for values in result["trials_to_criterion"].values() for v in values if v)
    return {
        "wall_s": round(wall, 2),
        "trials_to_criterion_total": trials,
        "trials_per_s": round(trials / wall),
    }


def run() -> dict[str, Any]:
    figures: dict[str, Any] = {"trials": TRIALS, "repeats": REPEATS}
    for fsync in (False, True):
        runs = [_session(fsync, seed) for seed in range(REPEATS)]
        walls = [w for w, _ in runs]
        ratios = [t / w for w, t in runs]
        key = "fsync_each_trial" if fsync else "virtual_time_default"
        figures[key] = {
            "wall_s_median": round(statistics.median(walls), 3),
            "wall_s_max": round(max(walls), 3),
            "task_s_median": round(statistics.median(t for _, t in runs), 1),
            "speed_ratio_median": round(statistics.median(ratios)),
            "speed_ratio_min": round(min(ratios)),
        }
    figures["simulate_10_mice_continual_learning"] = _cohort()
    build = _build_times()
    figures["build_compile_per_trial_us"] = {
        "median": round(statistics.median(build) * 1e6, 1),
        "p99": round(_percentile(build, 0.99) * 1e6, 1),
        "n": len(build),
    }
    return figures
