"""Open the behaviour device a hardware config names, for one session.

- ``kind: sim``: the virtual-time device with the subject's simulated mouse;
- ``kind: bpod``, ``url: serial:///dev/ttyACM0``: a real Bpod through the serial client;
- ``kind: bpod``, ``url: emulate://bpod?profile=r2-fw23``: the emulated Bpod, served on
  pseudo-terminals by a thread of this process (its inputs driven by the subject's
  simulated mouse), reached through the same serial client as a real one, in real time.
- ``kind: lickport``, ``url: serial:///dev/ttyACM0``: an Arduino running
  ``firmware/lickport``; ``url: emulate://lickport?mode=realtime`` (or ``fast``): that
  firmware, compiled, in a simulated AVR (``firmware/sim``), its pins driven by the
  subject's simulated mouse, reached through the same client over the harness's pty.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

from rig.devices.base import Device
from rig.devices.bpod.client import BpodClient
from rig.devices.bpod.device import BpodDevice
from rig.devices.bpod.hardware import PROFILES
from rig.devices.lickport import codec
from rig.devices.lickport.client import LickportClient, LickportError
from rig.devices.lickport.device import LickportDevice
from rig.schema.hardware import HardwareConfig
from rig.sim.bpod.server import BpodServer
from rig.sim.bpod.world import BpodWorld
from rig.sim.brain import Brain
from rig.sim.faults.link import LinkFault
from rig.sim.lickport.build import BuildError
from rig.sim.lickport.harness import HarnessError
from rig.sim.lickport.world import emulated_board
from rig.sim.mouse import Mouse
from rig.sim.subject import simulated_device
from rig.transport.base import open_transport


def is_virtual(hardware: HardwareConfig) -> bool:
    return hardware.device.kind == "sim"


@contextlib.contextmanager
def open_device(
    hardware: HardwareConfig,
    brain: Brain,
    rng: random.Random,
    *,
    realtime: bool,
    speed: float = 1.0,
    scope_seed: int = 0,
) -> Iterator[Device]:
    kind, url = hardware.device.kind, hardware.device.url
    if kind == "sim":
        yield simulated_device(
            hardware, brain, rng, realtime=realtime, speed=speed, scope_seed=scope_seed
        )
        return
    if kind == "lickport":
        with _lickport(url, hardware, brain, rng) as device:
            yield device
        return
    if kind != "bpod":
        raise NotImplementedError(f"device kind {kind!r} is not supported yet")
    with contextlib.ExitStack() as stack:
        if url.startswith("emulate://"):
            url = stack.enter_context(_emulated_bpod(url, hardware, brain, rng))
        client = BpodClient(open_transport(url))
        stack.callback(client.disconnect)
        bpod_inputs = [
            hardware.channels[ch] for ch in ("lick_left", "lick_right") if ch in hardware.channels
        ]
        hw = client.connect(inputs=bpod_inputs)
        limits: dict[str, float] = {n: v.max_open_s for n, v in hardware.valves.items()}
        yield BpodDevice(client, hw, hardware.channels, max_open_s=limits)


@contextlib.contextmanager
def _emulated_bpod(
    url: str, hardware: HardwareConfig, brain: Brain, rng: random.Random
) -> Iterator[str]:
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    profile = query.get("profile", ["r2-fw23"])[0]
    if parsed.netloc != "bpod" or profile not in PROFILES:
        raise ValueError(
            f"device url {url!r}: use emulate://bpod?profile=P with P one of {sorted(PROFILES)}"
        )
    server = BpodServer(PROFILES[profile])
    if "fault" in query:  # a fault on the emulated link (rig/sim/faults/link.py)
        server.inject(LinkFault(query["fault"][0], seed=rng.randrange(2**31)))
    world = BpodWorld(
        server.firmware,
        Mouse(brain, random.Random(rng.random())),
        hardware.channels,
        hardware.delivered_ul,
    )
    server.on_cycle = world.on_cycle
    thread = threading.Thread(target=server.serve, name="bpod-emulator", daemon=True)
    thread.start()
    try:
        yield f"serial://{server.ports[1]}"
    finally:
        server.stop()
        thread.join(5)
        server.close()


@contextlib.contextmanager
def _lickport(
    url: str, hardware: HardwareConfig, brain: Brain, rng: random.Random
) -> Iterator[LickportDevice]:
    with contextlib.ExitStack() as stack:
        if url.startswith("emulate://"):
            url = stack.enter_context(_emulated_lickport(url, hardware, brain, rng))
        client = LickportClient(open_transport(url, baud=codec.BAUD))
        device = LickportDevice(client)
        stack.callback(device.close)
        device.open(hardware)
        yield device


@contextlib.contextmanager
def _emulated_lickport(
    url: str, hardware: HardwareConfig, brain: Brain, rng: random.Random
) -> Iterator[str]:
    parsed = urlparse(url)
    mode = parse_qs(parsed.query).get("mode", ["realtime"])[0]
    if parsed.netloc != "lickport" or mode not in ("realtime", "fast"):
        raise ValueError(f"device url {url!r}: use emulate://lickport?mode=realtime|fast")
    mouse = Mouse(brain, random.Random(rng.random()))
    with contextlib.ExitStack() as stack:
        try:
            world = stack.enter_context(
                emulated_board(mouse, hardware.delivered_ul, realtime=mode == "realtime")
            )
        except (BuildError, HarnessError) as exc:
            raise LickportError(f"the emulated lick-port board cannot start: {exc}") from None
        thread = threading.Thread(target=world.serve, name="lickport-emulator", daemon=True)
        thread.start()
        try:
            yield f"serial://{world.harness.port}"
        finally:
            world.stop()
            thread.join(5)
        if world.error is not None:
            raise LickportError(f"the simulated board failed: {world.error}") from world.error
