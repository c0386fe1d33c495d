"""Machines run on the rig's device outside a session, beside the controller's request loop.

A run of 100 pulses of 1 s, 10 s apart, takes about 18 minutes on a real device: run in
the request loop it made the controller deaf (no ``hello``, no ``shutdown``) for all that
time. A :class:`DeviceRun` opens the rig's device (as a session does,
:func:`rig.session.devices.open_device`), runs one state machine in a thread of its own,
and closes the device again; :meth:`DeviceRun.abort` ends it from any thread: the device
ends the running machine (the Bpod's force-exit, every valve closed) at once.

- :class:`Delivery`: the calibration's pulses (``calibrate`` starts them and answers at
  once, ``calibration`` tells how far they are, ``abort_calibration`` ends them). On the
  simulated rig they run on virtual time and a simulated scale weighs them.
- the manual panel's actions (:mod:`rig.control.manual`): a valve, a tone, the pole.
"""

from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import Any

from rig.bus import DeviceEvent
from rig.devices.base import PollInterrupted
from rig.fsm.model import StateMachine
from rig.schema.hardware import HardwareConfig
from rig.schema.loader import load_model
from rig.schema.protocol import Protocol
from rig.session.devices import open_device
from rig.session.hand import VALVE_SIDES
from rig.session.today import DEFAULT_PROTOCOL
from rig.sim.subject import new_brain


class DeviceRun:
    """One state machine on the rig's device, in a thread; ``trial`` is its number in the
    device events (0: the operator's, which the Bpod does not hold to ``max_open_s``)."""

    def __init__(
        self,
        hardware: HardwareConfig,
        protocols_dir: Path,
        machine: StateMachine,
        seed: int | None,
        *,
        trial: int = 1,
        virtual: bool = True,
        speed: float = 1.0,
    ) -> None:
        """``virtual``: on the simulated rig, run on virtual time (at once) rather than in
        real time at ``speed``."""
        self.hardware, self.protocols_dir, self.machine = hardware, protocols_dir, machine
        self.seed, self.trial, self.virtual, self.speed = seed, trial, virtual, speed
        self.rng = random.Random(seed)
        self.error = ""
        self.aborted = False
        self.reply: dict[str, Any] = {}
        self._abort = threading.Event()
        self._device: Any = None
        self._thread = threading.Thread(target=self._run, name=machine.name, daemon=True)

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

    def on_event(self, event: DeviceEvent) -> None:
        """Each of the machine's device events, in the run's thread."""

    def finished(self) -> dict[str, Any]:
        """The reply once the machine has ended."""
        return {}

    def _run(self) -> None:
        try:
            self._go()
            self.reply = self.finished()
        except Exception as exc:  # the operator hears of it through the status requests
            self.error = f"{type(exc).__name__}: {exc}"

    def _go(self) -> None:
        protocol = load_model(self.protocols_dir / DEFAULT_PROTOCOL, Protocol)
        brain = new_brain(protocol, self.hardware, self.rng)  # a mouse the world needs; away
        realtime = self.hardware.device.kind != "sim" or not self.virtual
        with open_device(self.hardware, brain, self.rng, realtime=realtime, speed=self.speed) as d:
            self._device = d
            d.queue(self.machine, self.trial)
            started = ended = False
            while not ended:
                if self._abort.is_set() and started and not self.aborted:
                    self.aborted = True  # once it runs: a machine not started is not ended
                    d.abort()
                try:
                    events = d.poll()
                except PollInterrupted:
                    continue
                if not events:
                    break
                for event in events:
                    self.on_event(event)
                started = started or any(e.kind == "trial_start" for e in events)
                ended = any(e.kind == "trial_end" for e in events)
            self._device = None


class Delivery(DeviceRun):
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
        super().__init__(hardware, protocols_dir, machine, seed)
        self.valve, self.open_s, self.pulses = valve, open_s, pulses
        self.openings = 0

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

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "running": self.running,
            "valve": self.valve,
            "open_s": self.open_s,
            "pulses": self.pulses,
            "openings": self.openings,
            "aborted": self.aborted,
        }
        if self.error:
            out["error"] = self.error
        if not self.running:
            out.update(self.reply)
        return out

    def on_event(self, event: DeviceEvent) -> None:
        if event.kind == "output" and event.name == self.valve and event.value:
            self.openings += 1

    def finished(self) -> dict[str, Any]:
        reply: dict[str, Any] = {"openings": self.openings}
        if self.hardware.device.kind == "sim":  # the simulated scale: what the valve gave
            true_ul = self.hardware.delivered_ul(
                VALVE_SIDES[self.valve], self.open_s
            ) * self.rng.gauss(1.0, 0.02)
            reply["simulated_weight_mg"] = round(true_ul * self.openings, 2)
        return reply
