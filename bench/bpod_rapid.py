"""Bpod's rapid-event self-test, on the emulated Bpod over a pty, through the rig's client.

Port 1 toggles every cycle for 10 s: 10,000 input events per second. The state machine
changes state on every rising edge: 5,000 transitions per second. Every event must reach
the host, be decoded and be replayed; none lost. Host CPU is the client thread's CPU time
(the emulator runs in another thread of the same process and is not counted).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from rig.devices.bpod import PROFILES
from rig.devices.bpod.client import BpodClient
from rig.devices.bpod.device import BpodDevice
from rig.fsm.model import State, StateMachine
from rig.sim.bpod.firmware import BpodFirmware
from rig.sim.bpod.server import BpodServer
from rig.transport.serial_port import SerialTransport

SECONDS = 10
CHANNELS = {"lick_left": "Port1"}
MACHINE = StateMachine(
    states=(
        # each entry restarts the timer: the trial ends 0.1 s after the toggling stops
        State(name="A", timer_s=0.1, transitions={"lick_left": "B", "Tup": "exit"}),
        State(name="B", timer_s=0.1, transitions={"lick_left": "A", "Tup": "exit"}),
    )
)


def run() -> dict[str, Any]:
    server = BpodServer(PROFILES["r2-fw23"])
    port1 = server.firmware.hw.input_index("Port1")
    generated = {"edges": 0}

    def toggle(fw: BpodFirmware) -> None:
        cycle = fw.trial_cycle  # None before the trial's cycle 0 has run
        if cycle is not None and cycle < SECONDS * 10_000:
            fw.levels[port1] ^= 1
            generated["edges"] += 1

    server.on_cycle = toggle
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        client = BpodClient(SerialTransport(server.ports[1]))
        hw = client.connect(inputs=["Port1"])
        device = BpodDevice(client, hw, CHANNELS)
        device.queue(MACHINE, 1)
        cpu0, wall0 = time.thread_time(), time.monotonic()
        inputs = states = 0
        ended = False
        while not ended:
            for event in device.poll():
                inputs += event.kind == "input" and event.name.startswith("lick_left")
                states += event.kind == "state"
                ended = ended or event.kind == "trial_end"
        cpu, wall = time.thread_time() - cpu0, time.monotonic() - wall0
        client.disconnect()
    finally:
        server.stop()
        thread.join(5)
        server.close()
    return {
        "seconds": SECONDS,
        "input_events_recorded": inputs,
        "state_transitions_recorded": states - 1,
        "input_events_per_s": round(inputs / SECONDS),
        "transitions_per_s": round((states - 1) / SECONDS),
        "edges_generated_in_trial": generated["edges"],
        "lost": generated["edges"] - inputs,
        "host_replay_disagreements": len(device.disagreements),
        "decoder_garbage": device.garbage,
        "host_cpu_s": round(cpu, 2),
        "host_cpu_percent_of_one_core": round(100 * cpu / wall, 1),
    }
