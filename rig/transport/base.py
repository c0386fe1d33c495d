"""The one small interface devices talk through, and ``open_transport(url)``.

- ``serial:///dev/ttyACM0`` (or an emulator's ``/dev/pts/N``): a real serial port;
- ``loop://``: an in-memory pair for tests (what is written can be read back by the peer).

A transport that is gone (unplugged, the emulator closed) raises :class:`TransportClosed`
from ``read`` or ``write``: the device client turns that into a lost-device report.
"""

from __future__ import annotations

from typing import Protocol


class TransportClosed(ConnectionError):
    """The other end is gone."""


class Transport(Protocol):
    name: str

    def write(self, data: bytes) -> None: ...

    def read(self, timeout: float) -> bytes:
        """What has arrived, waiting at most ``timeout`` seconds for the first byte."""
        ...

    def close(self) -> None: ...


def open_transport(url: str, baud: int = 12_000_000) -> Transport:
    """``baud`` matters on a real UART bridge (the lick-port board's 500,000); USB CDC
    ignores it."""
    if url.startswith("serial://"):
        from rig.transport.serial_port import SerialTransport

        return SerialTransport(url.removeprefix("serial://"), baud)
    raise ValueError(f"unknown transport URL {url!r} (known: serial:///dev/...)")
