"""Reliability figure (issue 8): every decoder fed random and mutated inputs.

10^6 inputs over the five byte decoders (Bpod stream, lick-port stream, lick-port payload,
microscope-link message, GUI wire message), half random bytes (0-400 long), half seeds
with 1-4 random edits (rig/sim/faults/fuzz.py); 10^4 over the protocol YAML loader (a file
each). A crash is any exception the decoder does not mean to raise; a hang is an input that
takes more than 1 s. Then the controller's request socket (issue 14: :mod:`bench.fuzz_controller`).
"""

from __future__ import annotations

import random
import time
from typing import Any

from bench import fuzz_controller
from rig.sim.faults.fuzz import SEEDS, TARGETS, mutate, run_one

PER_TARGET = {"protocol_yaml": 10_000}
TOTAL = 1_000_000
HANG_S = 1.0


def run() -> dict[str, Any]:
    rng = random.Random(8)
    fast = [t for t in TARGETS if t not in PER_TARGET]
    counts = {t: PER_TARGET.get(t, TOTAL // len(fast)) for t in TARGETS}
    figures: dict[str, Any] = {}
    for target, n in counts.items():
        crashes: dict[str, int] = {}
        hangs, slowest = 0, 0.0
        started = time.perf_counter()
        for i in range(n):
            if i % 2:
                data = mutate(rng.choice(SEEDS[target]), rng)
            else:
                data = rng.randbytes(rng.randrange(400))
            t0 = time.perf_counter()
            crash = run_one(target, data)
            took = time.perf_counter() - t0
            slowest = max(slowest, took)
            hangs += took > HANG_S
            if crash:
                crashes[crash[:120]] = crashes.get(crash[:120], 0) + 1
        figures[target] = {
            "inputs": n,
            "crashes": sum(crashes.values()),
            "hangs": hangs,
            "slowest_input_ms": round(slowest * 1000, 2),
            "wall_s": round(time.perf_counter() - started, 1),
            "crash_kinds": crashes,
        }
    figures["controller_requests"] = fuzz_controller.run()  # a real rig serve, real sockets
    counted = [f for f in figures.values() if isinstance(f, dict)]
    figures["total_inputs"] = sum(counts.values()) + figures["controller_requests"]["inputs"]
    figures["total_crashes"] = sum(f["crashes"] for f in counted)
    figures["total_hangs"] = sum(f["hangs"] for f in counted)
    return figures
