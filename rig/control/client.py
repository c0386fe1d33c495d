"""A client of the controller: requests, and the numbered event stream with nothing missed.

:class:`ControllerClient` sends one request at a time and waits (with a timeout: a REQ
socket that timed out is replaced, so the next request works). :class:`EventStream`
receives the published events in a thread of its own, so a client that is busy (or
frozen) leaves them queued rather than lost; when it sees a gap in the numbers (it
attached late, or ZeroMQ could not deliver), it asks the controller's ``history`` for the
missing ones. :meth:`EventStream.take` hands over everything received, in order, once.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq

from rig.control.server import events_endpoint
from rig.control.wire import TOPIC, Message, WireError, decode
from rig.sync.curve import client_keys


class ControllerError(RuntimeError):
    """The controller refused a request, or did not answer it."""


class ControllerClient:
    def __init__(
        self, endpoint: str, *, timeout_s: float = 10.0, curve: tuple[Path, Path] | None = None
    ) -> None:
        """``curve``: (this GUI's secret key file, the controller's public key file)."""
        self.endpoint = endpoint
        self.curve = curve
        self.timeout_ms = int(timeout_s * 1000)
        self.context: zmq.Context[zmq.Socket[bytes]] = (
            zmq.Context.instance()
        )  # shared, never terminated behind a thread's back
        self._lock = threading.Lock()  # one request at a time, from any thread
        self._req = self._connect()

    def _connect(self) -> zmq.Socket[bytes]:
        sock: zmq.Socket[bytes] = self.context.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        self.secure(sock)
        sock.connect(self.endpoint)
        return sock

    def secure(self, sock: zmq.Socket[bytes]) -> None:
        """CURVE keys on a socket to the controller, when it has them."""
        if self.curve is not None:
            client_keys(sock, *self.curve)

    def request(self, cmd: str, *, timeout_s: float | None = None, **args: Any) -> dict[str, Any]:
        timeout_ms = self.timeout_ms if timeout_s is None else int(timeout_s * 1000)
        with self._lock:
            sent = self._send({"cmd": cmd, **args}, timeout_ms)
            if not sent or not self._req.poll(timeout_ms):
                self._req.close()
                self._req = self._connect()
                raise ControllerError(
                    f"the controller at {self.endpoint} did not answer {cmd!r} "
                    f"within {timeout_ms / 1000:.0f} s"
                )
            reply: dict[str, Any] = self._req.recv_json()  # type: ignore[assignment]
        if not reply.get("ok"):
            raise ControllerError(f"{cmd}: {reply.get('error', 'refused')}")
        return reply

    def _send(self, request: dict[str, Any], timeout_ms: int) -> bool:
        """Send without blocking, for at most ``timeout_ms``; False if it could not.

        A REQ socket with no connection to send on (a CURVE handshake that failed tears it
        down) blocks in a plain send for ever, and POLLOUT is no promise: the connection
        can go between the poll and the send. So every try is non-blocking.
        """
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            try:
                self._req.send_json(request, zmq.NOBLOCK)
                return True
            except zmq.Again:
                left_ms = int((deadline - time.monotonic()) * 1000)
                if left_ms <= 0:
                    return False
                self._req.poll(min(left_ms, 50), zmq.POLLOUT)

    def command(self, action: str, **args: Any) -> dict[str, Any]:
        """An operator command to the running session."""
        return self.request("command", action=action, args=args)

    def close(self) -> None:
        self._req.close()


class EventStream:
    """The controller's events, from the current session's first, in order, none twice."""

    def __init__(self, client: ControllerClient) -> None:
        self.client = client
        self._sub = client.context.socket(zmq.SUB)
        self._sub.setsockopt(zmq.LINGER, 0)
        self._sub.setsockopt(zmq.RCVHWM, 0)
        self._sub.setsockopt(zmq.SUBSCRIBE, TOPIC)
        client.secure(self._sub)
        self._sub.connect(events_endpoint(client.endpoint))
        self._lock = threading.Lock()
        self._ready: deque[Message] = deque()
        self._held: deque[Message] = deque()  # received live, waiting for a gap to be filled
        self._caught_up = False
        self._last = 0  # the highest sequence number handed to _ready
        self._stop = threading.Event()
        self.errors: list[str] = []
        self.recovered = 0  # messages fetched from the history (not received live)
        self.wakeup: threading.Event = threading.Event()  # set when messages are ready
        # called (from the receiving thread) when messages become ready after none were
        self.on_ready: Callable[[], None] | None = None
        self._thread = threading.Thread(target=self._receive, name="events", daemon=True)
        self._thread.start()

    def take(self) -> list[Message]:
        with self._lock:
            out = list(self._ready)
            self._ready.clear()
            self.wakeup.clear()
        return out

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)

    def _receive(self) -> None:
        self._caught_up = self._catch_up()  # what was published before we subscribed
        while not self._stop.is_set():
            if not self._sub.poll(100):
                if self._held or not self._caught_up:
                    self._fill_gap()  # a catch-up that failed is tried again
                continue
            try:
                _, header, body = self._sub.recv_multipart()
                message = decode(header, body)
            except (ValueError, WireError) as exc:
                self.errors.append(str(exc))
                continue
            if message.type == "SessionStarted" and (
                message.seq > self._last + 1 or message.seq <= self._last
            ):
                # a new session (what came before is not ours), or a restarted controller
                # numbering from 1 again
                self._last = message.seq - 1
                self._held.clear()
            self._held.append(message)
            self._fill_gap()
        self._sub.close()

    def _fill_gap(self) -> None:
        """Hand over the held live messages; when one is not the next expected, get the
        missing ones from the history first (kept held, and retried, until that works)."""
        if not self._caught_up or (self._held and self._held[0].seq > self._last + 1):
            self._caught_up = self._catch_up()
            if not self._caught_up:
                return
        while self._held:
            self._accept(self._held.popleft())

    def _accept(self, message: Message) -> None:
        if message.seq <= self._last:
            return
        with self._lock:
            self._ready.append(message)
            self._last = message.seq
            first = not self.wakeup.is_set()
            self.wakeup.set()
        if first and self.on_ready is not None:
            self.on_ready()

    def _catch_up(self) -> bool:
        """Everything after ``_last`` the controller still has; False if it did not answer."""
        try:
            reply = self.client.request("history", since=self._last)
            messages = [decode(h.encode(), b.encode()) for h, b in reply["messages"]]
        except (ControllerError, WireError, KeyError) as exc:
            self.errors.append(f"catching up: {exc}")
            return False
        if self._last < reply["first_seq"] - 1:
            self._last = reply["first_seq"] - 1
        for message in messages:
            if message.seq > self._last:
                self.recovered += 1
                self._accept(message)
        return True
