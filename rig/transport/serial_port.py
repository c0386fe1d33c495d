"""A serial port (USB CDC-ACM, or a pseudo-terminal) as a :class:`~rig.transport.Transport`."""

from __future__ import annotations

import serial

from rig.transport.base import TransportClosed


class SerialTransport:
    def __init__(self, path: str, baud: int = 12_000_000) -> None:
        self.name = path
        try:
            # exclusive: a second program on the same port fails here, not mid-session
            self._port = serial.Serial(path, baud, timeout=0, exclusive=True)
        except (serial.SerialException, OSError) as exc:
            raise TransportClosed(f"{path}: cannot open: {exc}") from None

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
        except (serial.SerialException, OSError) as exc:
            raise TransportClosed(f"{self.name}: write failed: {exc}") from None

    def read(self, timeout: float) -> bytes:
        try:
            self._port.timeout = timeout
            first = self._port.read(1)
            if not first:
                return b""
            self._port.timeout = 0
            return first + self._port.read(self._port.in_waiting or 0)
        except (serial.SerialException, OSError) as exc:
            raise TransportClosed(f"{self.name}: read failed: {exc}") from None

    def close(self) -> None:
        self._port.close()
