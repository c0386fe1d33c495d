"""``rig emulate lickport``: the real firmware in a simulated Uno, a simulated mouse at its
pins, served on a pseudo-terminal until a terminating signal (rig.signals)."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from rig.schema.hardware import HardwareConfig
from rig.schema.loader import load_model
from rig.signals import on_terminating_signals
from rig.sim.brain import Brain
from rig.sim.lickport.build import FIRMWARE_DIR
from rig.sim.lickport.world import emulated_board
from rig.sim.mouse import Mouse

DEFAULT_RIG = FIRMWARE_DIR.parent / "hardware_configs" / "lickport-emulator.yaml"


def serve(
    *, realtime: bool, seed: int, rig: Path | None, announce: Callable[[str], None] = print
) -> None:
    hardware = load_model(rig or DEFAULT_RIG, HardwareConfig)
    rng = random.Random(seed)
    mouse = Mouse(Brain.new(rng), random.Random(rng.random()))
    with emulated_board(mouse, hardware.delivered_ul, realtime=realtime) as world:
        on_terminating_signals(world.stop)
        announce(f"port: {world.harness.port}")
        world.serve()
    if world.error is not None:
        raise world.error
