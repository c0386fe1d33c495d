"""The lick-port client: hello, configuration, machines, abort, heartbeat, over any
:class:`~rig.transport.Transport`.

Requests that have an answer (hello, config, abort, loop statistics) wait for it; events
and status that arrive meanwhile are kept, in order, for :meth:`LickportClient.poll`.
Garbage from the board is counted and skipped; the board reports and skips ours.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from rig.devices.lickport import codec
from rig.transport.base import Transport, TransportClosed

REPLY_TIMEOUT_S = 1.0
M = TypeVar("M", codec.Hello, codec.Ack, codec.LoopStats, codec.Status)


class LickportError(RuntimeError):
    """The board did not answer as the protocol says, or refused a command."""


class DeviceLost(LickportError):
    """The board is gone (unplugged, closed), stopped answering, or stopped the trial."""


class LickportClient:
    def __init__(
        self, transport: Transport, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.transport, self.clock = transport, clock
        self.decoder = codec.Decoder()
        self.garbage: list[codec.Garbage] = []
        self.hello: codec.Hello | None = None
        self._backlog: list[codec.Message] = []

    def connect(self, *, boot_s: float = 3.0) -> codec.Hello:
        """Say hello until the board answers (a real Uno reboots when its port opens)."""
        deadline = self.clock() + boot_s
        while True:
            self.transport.write(codec.hello())
            try:
                hello = self._wait(codec.Hello, "H", min(0.25, boot_s))
                break
            except LickportError:
                if self.clock() > deadline:
                    raise DeviceLost(
                        f"{self.transport.name}: no hello from a lick-port board in {boot_s} s"
                    ) from None
        if hello.protocol != codec.PROTOCOL:
            raise LickportError(
                f"{self.transport.name}: board speaks protocol {hello.protocol}, "
                f"this host {codec.PROTOCOL} (firmware {hello.firmware})"
            )
        self.hello = hello
        self._backlog = [m for m in self._backlog if not isinstance(m, codec.Hello)]
        return hello

    def configure(
        self, *, debounce_us: int, heartbeat_ms: int, max_open_ms: tuple[int, int], bitcode: bool
    ) -> None:
        self.transport.write(
            codec.config(
                debounce_us=(debounce_us, debounce_us),
                heartbeat_ms=heartbeat_ms,
                max_open_ms=max_open_ms,
                bitcode=bitcode,
            )
        )
        self._wait(codec.Ack, "C")

    def send_machine(self, blob: bytes, trial: int) -> None:
        """Upload and queue; the board acknowledges ('Q') or refuses through :meth:`poll`."""
        self.transport.write(b"".join(codec.upload(blob, trial)))

    def abort(self) -> codec.Ack:
        """End the running trial and drop the queued one: ``arg`` is the trial ended,
        ``arg2`` the trial dropped (:data:`codec.NO_TRIAL`: none)."""
        self.transport.write(codec.abort())
        return self._wait(codec.Ack, "X")

    def heartbeat(self) -> None:
        self.transport.write(codec.heartbeat())

    def status(self) -> codec.Status:
        self.transport.write(codec.heartbeat())
        return self._wait(codec.Status, "")

    def loop_stats(self, reset: bool = False) -> codec.LoopStats:
        self.transport.write(codec.stats(reset))
        return self._wait(codec.LoopStats, "")

    def write(self, data: bytes) -> None:
        self.transport.write(data)

    def poll(self, timeout: float) -> list[codec.Message]:
        if self._backlog:
            out, self._backlog = self._backlog, []
            return out
        return self._read(timeout)

    def close(self) -> None:
        self.transport.close()

    def _read(self, timeout: float) -> list[codec.Message]:
        try:
            data = self.transport.read(timeout)
        except TransportClosed as exc:
            raise DeviceLost(str(exc)) from None
        out: list[codec.Message] = []
        for message in self.decoder.feed(data):
            if isinstance(message, codec.Garbage):
                self.garbage.append(message)
            else:
                out.append(message)
        return out

    def _wait(self, kind: type[M], of: str, timeout: float = REPLY_TIMEOUT_S) -> M:
        """The first ``kind`` message (an Ack of ``of``); others are kept for poll()."""
        deadline = self.clock() + timeout
        while True:
            for i, message in enumerate(self._backlog):
                if isinstance(message, kind) and (
                    not isinstance(message, codec.Ack) or message.of == of
                ):
                    del self._backlog[i]
                    return message
                if isinstance(message, codec.BoardError) and message.of == of and of:
                    del self._backlog[i]
                    raise LickportError(f"{self.transport.name}: {message.describe()}")
            left = deadline - self.clock()
            if left <= 0:
                raise LickportError(
                    f"{self.transport.name}: no answer to {of or kind.__name__!r} in {timeout} s"
                )
            self._backlog += self._read(min(left, 0.05))
