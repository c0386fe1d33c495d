"""``rig simulate``: simulated mice through a curriculum, to try it before real mice.

Each mouse is a fresh simulated subject (seeded from the cohort's seed and its index)
that runs daily sessions of ``trials_per_session`` trials on virtual time, continuing in
the curriculum where the last session stopped, until the curriculum is completed or
``max_sessions`` have run. The result is, per curriculum step (named by its label, and
its stage where labels repeat, as in the shaping ladder), the trials each mouse needed to
meet the step's rule (None where it never did).
"""

from __future__ import annotations

import os
import random
from concurrent.futures import ProcessPoolExecutor
from statistics import median
from typing import Any

from rig.bus import Bus, ContextSwitched
from rig.schema.hardware import HardwareConfig
from rig.schema.protocol import Protocol
from rig.session.planner import TrialPlanner
from rig.session.preflight import require_ready
from rig.session.runner import SessionRunner
from rig.sim.subject import new_brain, simulated_device


def simulate_mouse(
    protocol: Protocol,
    hardware: HardwareConfig,
    seed: str,
    trials_per_session: int,
    max_sessions: int,
) -> dict[str, int | None]:
    """Trials to criterion per curriculum step (by :meth:`Protocol.step_names`) for one mouse."""
    names = protocol.step_names()
    reached: dict[str, int | None] = dict.fromkeys(names)
    brain = new_brain(protocol, hardware, random.Random(f"{seed}/brain"))
    position = None
    for day in range(max_sessions):
        rng = random.Random(f"{seed}/day{day}")
        bus = Bus()

        def on_switch(event: ContextSwitched) -> None:
            if event.reason in ("criterion", "trials"):
                reached[names[event.from_step]] = event.trials_in_step

        bus.subscribe(ContextSwitched, on_switch, critical=True)
        planner = TrialPlanner(protocol, hardware, rng, position)
        device = simulated_device(hardware, brain, rng)
        runner = SessionRunner(
            device,
            planner,
            bus,
            max_trials=trials_per_session,
            stop_when_curriculum_completed=True,
            volume_ul=hardware.delivered_ul,
        )
        if runner.run().curriculum_completed:
            break
        position = planner.tracker.position
    return reached


def _one(args: tuple[Protocol, HardwareConfig, str, int, int]) -> dict[str, int | None]:
    return simulate_mouse(*args)


def simulate_cohort(
    protocol: Protocol,
    hardware: HardwareConfig,
    *,
    mice: int,
    seed: int,
    trials_per_session: int = 500,
    max_sessions: int = 60,
    workers: int = 0,
) -> dict[str, Any]:
    require_ready(protocol, hardware)
    if hardware.device.kind != "sim":
        raise ValueError(
            f"rig {hardware.name!r} has a {hardware.device.kind} device; "
            "rig simulate needs a simulated rig (device kind: sim)"
        )
    jobs = [
        (protocol, hardware, f"{seed}/mouse{i}", trials_per_session, max_sessions)
        for i in range(mice)
    ]
    workers = workers or min(mice, os.cpu_count() or 1)
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(_one, jobs))
    else:
        results = [_one(job) for job in jobs]
    names = protocol.step_names()
    return {
        "contexts": names,
        "trials_to_criterion": {name: [r[name] for r in results] for name in names},
    }


def format_table(result: dict[str, Any]) -> str:
    width = max(8, *(len(name) for name in result["contexts"]))
    lines = [f"{'step':<{width}} {'median':>7}  trials to criterion per mouse (- = never)"]
    for name in result["contexts"]:
        values = result["trials_to_criterion"][name]
        reached = [v for v in values if v is not None]
        med = f"{median(reached):7.0f}" if reached else "      -"
        cells = " ".join("-" if v is None else str(v) for v in values)
        lines.append(f"{name:<{width}} {med}  {cells}")
    return "\n".join(lines)
