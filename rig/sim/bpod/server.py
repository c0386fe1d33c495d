"""The emulated Bpod on pseudo-terminals, in real time: what ``rig emulate bpod`` runs.

One pty per USB serial port of the profile (port 1 for the protocol, port 2 the app port,
port 3 the analogue port on the 2+). The firmware is ticked to the wall clock: every loop
pass runs the cycles that are due (10 per millisecond), then hands the bytes it wrote to
the host and the host's bytes to it. Device times stay those of the cycle counter.

Closing the server closes the ptys' master side: a client's next read fails, as when a
real Bpod is unplugged.
"""

from __future__ import annotations

import contextlib
import os
import select
import time
import tty
from collections.abc import Callable

from rig.devices.bpod.hardware import BpodHardware
from rig.fsm.executor import CYCLES_PER_S
from rig.sim.bpod.firmware import BpodFirmware
from rig.sim.faults.link import LinkFault

PORTS_BY_MACHINE_TYPE = {1: 1, 2: 1, 3: 2, 4: 3}


class BpodServer:
    def __init__(self, hw: BpodHardware) -> None:
        self.firmware = BpodFirmware(hw)
        self._masters: dict[int, int] = {}
        self._slaves: list[int] = []  # our copies keep each pty alive between host opens
        self.ports: dict[int, str] = {}
        for port in range(1, PORTS_BY_MACHINE_TYPE.get(hw.machine_type, 1) + 1):
            master, slave = os.openpty()
            tty.setraw(slave)
            os.set_blocking(master, False)
            self._masters[port] = master
            self.ports[port] = os.ttyname(slave)
            self._slaves.append(slave)
        self._start = time.monotonic()
        self._stopped = False
        self.on_cycle: Callable[[BpodFirmware], None] | None = None
        self.fault: LinkFault | None = None  # rig/sim/faults/link.py, on port 1

    def inject(self, fault: LinkFault) -> None:
        """A fault on the protocol port's link (garbage, silence, a reset)."""
        self.fault = fault
        fault.on_reset = self._reset

    def _reset(self) -> None:
        """As after a power glitch: a new firmware state, the same wiring to the world."""
        fw = self.firmware
        on_output = fw.on_output
        fw.__init__(fw.hw, minor=fw.minor, pcb=fw.pcb)  # type: ignore[misc]
        fw.on_output = on_output
        self._start = time.monotonic()

    def stop(self) -> None:
        self._stopped = True

    def serve(self, until: Callable[[], bool] | None = None) -> None:
        """Tick the firmware to the wall clock until :meth:`stop` (or ``until()``)."""
        fw = self.firmware
        while not self._stopped and not (until and until()):
            due = int((time.monotonic() - self._start) * CYCLES_PER_S)
            while fw.cycle < due:
                fw.tick()
                if self.on_cycle is not None:
                    self.on_cycle(fw)
                if fw.cycle % 10 == 0:
                    self._exchange()
            self._exchange()
            select.select(list(self._masters.values()), [], [], 0.0005)

    def _exchange(self) -> None:
        fw = self.firmware
        for port, master in self._masters.items():
            data = fw.read(port)
            if data and port == 1 and self.fault is not None:
                data = self.fault.outgoing(data)
            if data:
                with contextlib.suppress(OSError):  # a full buffer: lost, as on USB
                    os.write(master, data)
        try:
            incoming = os.read(self._masters[1], 4096)
        except (BlockingIOError, OSError):
            incoming = b""
        if incoming and self.fault is not None:
            incoming = self.fault.incoming(incoming)
        if incoming:
            fw.receive(incoming)

    def close(self) -> None:
        for fd in [*self._masters.values(), *self._slaves]:
            os.close(fd)
        self._masters.clear()
        self._slaves.clear()
