"""The emulated Bpod as an in-memory transport on virtual time (benchmarks, fast tests).

Writing hands the bytes to the firmware; reading runs the firmware's cycles up to the
requested timeout (on its own clock, not the wall's) and returns what it wrote. The
``clock`` it offers is that virtual time, so a client's silence checks use it too.
"""

from __future__ import annotations

from collections.abc import Callable

from rig.fsm.executor import CYCLES_PER_S
from rig.sim.bpod.firmware import BpodFirmware


class LoopbackTransport:
    def __init__(self, firmware: BpodFirmware, name: str = "loopback://bpod") -> None:
        self.firmware, self.name = firmware, name
        self.on_cycle: Callable[[BpodFirmware], None] | None = None

    def clock(self) -> float:
        return self.firmware.cycle / CYCLES_PER_S

    def sleep(self, seconds: float) -> None:
        """Time passes on the firmware's clock; what it writes waits for the next read."""
        for _ in range(int(seconds * CYCLES_PER_S)):
            self._tick()

    def _tick(self) -> None:
        self.firmware.tick()
        if self.on_cycle is not None:
            self.on_cycle(self.firmware)

    def write(self, data: bytes) -> None:
        self.firmware.receive(data)

    def read(self, timeout: float) -> bytes:
        fw = self.firmware
        out = b""
        for _ in range(max(int(timeout * CYCLES_PER_S), 1)):
            self._tick()
            out += fw.read()
            if out:
                break
        return out

    def close(self) -> None:
        pass
