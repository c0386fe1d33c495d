"""The calibration's valve pulses, run beside the controller's request loop.

A run of 100 pulses of 1 s, 10 s apart, takes about 18 minutes on a real device: run in
the request loop it made the controller deaf (no ``hello``, no ``shutdown``) for all that
time. A :class:`Delivery` runs it in a thread of its own; ``calibrate`` starts it and
answers at once, ``calibration`` tells how far it is, ``abort_calibration`` ends it: the
device ends the running machine (the Bpod's force-exit, every valve closed) at once.

On the simulated rig the pulses run on virtual time and a simulated scale weighs them.
"""

from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import Any

from rig.devices.base import PollInterrupted
from rig.fsm.model import StateMachine
from rig.schema.hardware import HardwareConfig
from rig.schema.loader import load_model
from rig.schema.protocol import Protocol
from rig.session.devices import open_device
from rig.session.today import DEFAULT_PROTOCOL
from rig.sim.subject import new_brain


class Delivery:
    """One calibration run: ``pulses`` openings of ``open_s`` of ``valve``, in a thread."""

    def __init__(
        self,
        hardware: HardwareConfig,
        protocols_dir: Path,
        machine: StateMachine,
        valve: str,
        open_s: float,
        seed: int | None,
        pulses: int,
    ) -> None:
        self.hardware, self.protocols_dir, self.machine = hardware, protocols_dir, machine
        self.valve, self.open_s, self.seed, self.pulses = valve, open_s, seed, pulses
        self.openings = 0
        self.error = ""
        self.aborted = False
        self.reply: dict[str, Any] = {}
        self._abort = threading.Event()
        self._device: Any = None
        self._thread = threading.Thread(target=self._run, name="calibration", daemon=True)

    @classmethod
    def requested(
        cls,
        req: dict[str, Any],
        hardware: HardwareConfig,
        protocols_dir: Path,
        seed: int | None,
    ) -> Delivery:
        """From the controller's ``calibrate`` request (valve, open_s, pulses, interval_s)."""
        from rig.control.calibration import checked_valve, pulse_machine
        from rig.control.requests import number, whole

        valve = checked_valve(req)
        open_s, pulses = number(req, "open_s", 0.0), whole(req, "pulses", 0)
        machine = pulse_machine(valve, open_s, pulses, number(req, "interval_s", 0.5))
        return cls(hardware, protocols_dir, machine, valve, open_s, seed, pulses)

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def abort(self) -> None:
        """End the run now (any thread): the device closes the valve at its next cycle."""
        self._abort.set()
        device = self._device
        if device is not None:
            device.interrupt()

    def join(self) -> None:
        self._thread.join()

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "running": self.running,
            "valve": self.valve,
            "open_s": self.open_s,
            "openings": self.openings,
            "aborted": self.aborted,
        }
        if self.error:
            out["error"] = self.error
        if not self.running:
            out.update(self.reply)
        return out

    def _run(self) -> None:
        try:
            self.reply = self._pulse()
        except Exception as exc:  # the operator hears of it through ``calibration``
            self.error = f"{type(exc).__name__}: {exc}"

    def _pulse(self) -> dict[str, Any]:
        rng = random.Random(self.seed)
        protocol = load_model(self.protocols_dir / DEFAULT_PROTOCOL, Protocol)
        brain = new_brain(protocol, self.hardware, rng)  # a mouse the world needs; it is away
        realtime = self.hardware.device.kind != "sim"
        with open_device(self.hardware, brain, rng, realtime=realtime) as device:
            self._device = device
            device.queue(self.machine, 1)
            started = ended = False
            while not ended:
                if self._abort.is_set() and started and not self.aborted:
                    self.aborted = True  # once it runs: a machine not started is not ended
                    device.abort()
                try:
                    events = device.poll()
                except PollInterrupted:
                    continue
                if not events:
                    break
                self.openings += sum(
                    e.kind == "output" and e.name == self.valve and e.value for e in events
                )
                started = started or any(e.kind == "trial_start" for e in events)
                ended = any(e.kind == "trial_end" for e in events)
            self._device = None
        reply: dict[str, Any] = {"openings": self.openings}
        if self.hardware.device.kind == "sim":  # the simulated scale: what the valve gave
            side = "left" if self.valve == "valve_left" else "right"
            true_ul = self.hardware.delivered_ul(side, self.open_s) * rng.gauss(1.0, 0.02)
            reply["simulated_weight_mg"] = round(true_ul * self.openings, 2)
        return reply
