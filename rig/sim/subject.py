"""The simulated subject: its mouse, created once and kept with the subject's data.

A new subject starts as a mouse that finished shaping on the curriculum's first context
(or a naive one; the hardware config's ``simulated_mouse`` says which). Its brain is saved
as ``<data_dir>/<subject>/sim_mouse.json`` after every session and loaded before the next.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from rig.schema.hardware import HardwareConfig
from rig.schema.protocol import Protocol
from rig.sim.brain import Brain
from rig.sim.device import VirtualDevice, World
from rig.sim.mouse import Mouse
from rig.sim.scope import FrameClock, ScopeWorld, acquisition_start, scope_settings

SIM_MOUSE_FILE = "sim_mouse.json"


def perceived_mapping(protocol: Protocol, context: str) -> dict[str, str]:
    """A context's mapping as the simulated mouse perceives it: ``pole100 -> right``."""
    stimuli = protocol.stimuli
    mapping: dict[str, str] = {}
    for stimulus, side in protocol.contexts[context].mapping.items():
        if stimulus in stimuli.pole_positions:
            mapping[f"pole{stimuli.pole_positions[stimulus]}"] = side
        else:
            mapping[f"tone{round(stimuli.tone_hz[stimulus])}"] = side  # type: ignore[index]
    return mapping


def new_brain(protocol: Protocol, hardware: HardwareConfig, rng: random.Random) -> Brain:
    """A new simulated mouse: naive, or shaped on the curriculum's first context."""
    sim = hardware.simulated_mouse
    shaped = perceived_mapping(protocol, protocol.curriculum[0].context)
    return Brain.new(rng, shaped if sim.start == "shaped" else None, sim.shaped_strength)


def load_or_create_mouse(
    path: Path, protocol: Protocol, hardware: HardwareConfig, rng: random.Random
) -> Brain:
    if not path.exists():
        return new_brain(protocol, hardware, rng)
    try:
        return Brain.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{path}: not a simulated mouse ({exc!r}); move the file away to start a new mouse"
        ) from None


def simulated_device(
    hardware: HardwareConfig,
    brain: Brain,
    rng: random.Random,
    *,
    realtime: bool = False,
    speed: float = 1.0,
    scope_seed: int = 0,
) -> VirtualDevice:
    """The simulated rig's device; refuses hardware configs for real devices."""
    if hardware.device.kind != "sim":
        raise NotImplementedError(
            f"device kind {hardware.device.kind!r} ({hardware.device.url}) is not supported yet; "
            "only the simulated rig (kind: sim) runs in this version"
        )
    world: World = Mouse(brain, random.Random(rng.random()))
    if hardware.scope.kind == "fake":  # its frame clock on the frame_clock input
        settings = scope_settings(hardware.scope, "")
        world = ScopeWorld(world, FrameClock(settings, acquisition_start(settings), scope_seed))
    return VirtualDevice(world, hardware.delivered_ul, realtime=realtime, speed=speed)
