"""Bpod figures (issue 3), on the emulated firmware through the rig's own Bpod client.

- Dead time between consecutive trials on the device clock (end of trial n to the start of
  trial n+1), over 200 trials of ``protocols/tactile_T1.yaml`` queued with RunASAP, with
  the simulated mouse at the ports. The emulator runs on virtual time through an
  in-memory transport (the same client and decoder as over a pty).
- Host time to build, compile and encode one trial (``build_trial`` + ``compile_machine``),
  median and p99, for each profile.
"""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path
from typing import Any

from rig.bus import Bus, TrialCompleted
from rig.devices.bpod import PROFILES, compile_machine
from rig.devices.bpod.client import BpodClient
from rig.devices.bpod.device import BpodDevice
from rig.schema import HardwareConfig, Protocol, load_model
from rig.session.planner import TrialPlanner
from rig.session.runner import SessionRunner
from rig.sim.bpod.firmware import BpodFirmware
from rig.sim.bpod.loopback import LoopbackTransport
from rig.sim.bpod.world import BpodWorld
from rig.sim.mouse import Mouse
from rig.sim.subject import new_brain
from rig.task.builder import build_trial

ROOT = Path(__file__).resolve().parents[1]
TRIALS = 200


def _dead_times(profile: str) -> tuple[list[float], list[str], float]:
    protocol = load_model(ROOT / "protocols/tactile_T1.yaml", Protocol)
    hardware = load_model(ROOT / "hardware_configs/bpod-emulator.yaml", HardwareConfig)
    firmware = BpodFirmware(PROFILES[profile])
    transport = LoopbackTransport(firmware)
    mouse = Mouse(new_brain(protocol, hardware, random.Random(1)), random.Random(2))
    world = BpodWorld(firmware, mouse, hardware.channels, hardware.delivered_ul)
    transport.on_cycle = world.on_cycle
    client = BpodClient(transport, clock=transport.clock, sleep=transport.sleep)
    hw = client.connect(inputs=["Port1", "Port2"])
    device = BpodDevice(client, hw, hardware.channels, clock=transport.clock)
    bus = Bus()
    records: list[dict[str, Any]] = []
    bus.subscribe(TrialCompleted, lambda e: records.append(e.record))
    planner = TrialPlanner(protocol, hardware, random.Random(3))
    start = time.perf_counter()
    SessionRunner(device, planner, bus, max_trials=TRIALS, volume_ul=hardware.delivered_ul).run()
    wall = time.perf_counter() - start
    return [r["dead_time_ms"] for r in records[1:]], device.disagreements, wall


def _compile_times(profile: str) -> list[float]:
    protocol = load_model(ROOT / "protocols/continual_learning.yaml", Protocol)
    hardware = load_model(ROOT / "hardware_configs/bpod-emulator.yaml", HardwareConfig)
    planner = TrialPlanner(protocol, hardware, random.Random(0))
    times = []
    for trial in range(1, 1001):
        spec = planner.next_trial(trial).spec
        start = time.perf_counter()
        compile_machine(build_trial(protocol, hardware, spec), PROFILES[profile], hardware.channels)
        times.append(time.perf_counter() - start)
        planner.decided(spec, random.Random(trial).choice(["hit", "error"]), False, False)
    return times


def run() -> dict[str, Any]:
    figures: dict[str, Any] = {}
    dead, disagreements, wall = _dead_times("r2-fw23")
    figures["dead_time_ms_r2_fw23"] = {
        "trials": len(dead) + 1,
        "min": min(dead),
        "max": max(dead),
        "distinct": sorted(set(dead)),
        "host_replay_disagreements": len(disagreements),
        "wall_s_virtual_time": round(wall, 1),
    }
    for profile in ("r2-fw22", "r2-fw23", "2plus-fw23"):
        times = sorted(_compile_times(profile))
        figures[f"build_compile_us_{profile}"] = {
            "median": round(statistics.median(times) * 1e6, 1),
            "p99": round(times[int(0.99 * (len(times) - 1))] * 1e6, 1),
        }
    return figures
