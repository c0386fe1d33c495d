"""The rig's end of the link to the microscope's bridge.

One thread owns a DEALER socket: it says ``Hello`` (and again after the bridge went
silent), sends a heartbeat every ``heartbeat_s``, passes on what other threads :meth:`send`
(through an inproc socket, so a sender never waits on the network; what cannot go yet
waits in order, and the thread itself never blocks on a send) and matches replies to
:meth:`request`. The bridge is *lost* after ``lost_after_s`` without a message from it:
:attr:`ScopeLink.connected` falls and ``on_change(False)`` is called; the next message from
it restores both. Bad messages from the bridge are counted, never fatal.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import zmq

from rig.sync.messages import (
    BadMessage,
    Heartbeat,
    Hello,
    Message,
    RemoteError,
    Welcome,
    decode,
    encode,
)


class ScopeLink:
    def __init__(
        self,
        endpoint: str,
        *,
        rig_id: str = "rig",
        heartbeat_s: float = 0.25,
        lost_after_s: float = 1.0,
        curve_server_key: bytes | None = None,
        curve_secret_key: bytes | None = None,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        """``curve_server_key``: the bridge's public key (Z85); ``curve_secret_key``: this
        rig's own (for a bridge with an allow list; else a key pair made per connection)."""
        self.endpoint, self.rig_id = endpoint, rig_id
        self.heartbeat_s, self.lost_after_s = heartbeat_s, lost_after_s
        self.curve_server_key = curve_server_key
        self.curve_secret_key = curve_secret_key
        self.on_change = on_change
        self.context = zmq.Context()
        self.connected = False
        self.last_heard = 0.0  # monotonic time of the bridge's last message (0: never)
        self.welcome: Welcome | None = None
        self.refused = 0
        self.received: list[Message] = []  # everything but heartbeats, for inspection
        self._ids = itertools.count(1)
        self._outbox: deque[list[bytes]] = deque()  # passed on, waiting for a connection
        self._waiting: dict[int, Future[Message]] = {}
        self._inbox = f"inproc://scope-link-{id(self)}"
        self._local = threading.local()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scope-link", daemon=True)
        self._thread.start()
        self._ready.wait(5)

    # -- any thread -----------------------------------------------------------------------
    def send(self, message: Message) -> None:
        sock = getattr(self._local, "push", None)
        if sock is None:
            sock = self._local.push = self.context.socket(zmq.PUSH)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(self._inbox)
        sock.send_multipart(encode(message))

    def next_id(self) -> int:
        return next(self._ids)

    def request(self, make: Callable[[int], Message], timeout_s: float = 2.0) -> Message:
        """Send ``make(id)`` and wait for the reply with that ``ref``; a ``RemoteError``
        reply or no reply raises ``RuntimeError``."""
        rid = self.next_id()
        future: Future[Message] = Future()
        self._waiting[rid] = future
        self.send(make(rid))
        try:
            reply = future.result(timeout_s)
        except TimeoutError:
            raise RuntimeError(
                f"the bridge at {self.endpoint} did not answer in {timeout_s} s"
            ) from None
        finally:
            self._waiting.pop(rid, None)
        if isinstance(reply, RemoteError):
            raise RuntimeError(f"the bridge refused: {reply.code}: {reply.message}")
        return reply

    def close(self) -> None:
        # this thread's sending socket first: the link's thread ends by terminating the
        # context, which waits for every socket of it to be closed (it waited the 5 s out)
        sock = getattr(self._local, "push", None)
        if sock is not None:
            sock.close()
            self._local.push = None
        self._stop.set()
        self._thread.join(5)

    # -- the link's thread ----------------------------------------------------------------
    def _dealer(self) -> zmq.Socket[Any]:
        dealer = self.context.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        if self.curve_server_key is not None:
            public, secret = zmq.curve_keypair()
            if self.curve_secret_key is not None:
                secret = self.curve_secret_key
                public = zmq.curve_public(secret)
            dealer.curve_serverkey = self.curve_server_key
            dealer.curve_publickey, dealer.curve_secretkey = public, secret
        dealer.connect(self.endpoint)
        return dealer

    def _set(self, connected: bool) -> None:
        if connected != self.connected:
            self.connected = connected
            if self.on_change is not None:
                self.on_change(connected)

    def _run(self) -> None:
        pull = self.context.socket(zmq.PULL)
        pull.bind(self._inbox)
        dealer = self._dealer()
        poller = zmq.Poller()
        poller.register(pull, zmq.POLLIN)
        poller.register(dealer, zmq.POLLIN)
        self._ready.set()
        last_heard = last_beat = 0.0
        self._beat(dealer, Hello(rig_id=self.rig_id, t=time.time()))
        try:
            while not self._stop.is_set():
                ready = dict(poller.poll(int(self.heartbeat_s * 1000 / 2)))
                now = time.monotonic()
                if pull in ready:
                    while pull.poll(0):
                        self._outbox.append(pull.recv_multipart())
                self._pass_on(dealer)
                if dealer in ready:
                    while dealer.poll(0):
                        last_heard = self.last_heard = now
                        self._take(dealer.recv_multipart())
                if now - last_beat >= self.heartbeat_s:
                    last_beat = now
                    message = Heartbeat(t=time.time()) if self.connected else Hello(
                        rig_id=self.rig_id, t=time.time())  # fmt: skip
                    self._beat(dealer, message)
                self._set(now - last_heard < self.lost_after_s if last_heard else False)
        finally:
            pull.close()
            dealer.close()
            self.context.term()

    def _pass_on(self, dealer: zmq.Socket[Any]) -> None:
        """Send what waits, in order, as far as the socket takes it now. A DEALER with no
        connection to send on (a CURVE handshake that failed tears it down) would block a
        plain send for ever, and with it the link's thread and :meth:`close`."""
        while self._outbox:
            try:
                dealer.send_multipart(self._outbox[0], zmq.NOBLOCK)
            except zmq.Again:
                return
            self._outbox.popleft()

    def _beat(self, dealer: zmq.Socket[Any], message: Message) -> None:
        """A hello or heartbeat: worth nothing late, so dropped if it cannot go now."""
        with contextlib.suppress(zmq.Again):
            dealer.send_multipart(encode(message), zmq.NOBLOCK)

    def _take(self, frames: list[bytes]) -> None:
        try:
            message = decode(frames)
        except BadMessage:
            self.refused += 1
            return
        if isinstance(message, Heartbeat):
            return
        if isinstance(message, Welcome):
            self.welcome = message
        self.received.append(message)
        ref = getattr(message, "ref", None)
        future = self._waiting.get(ref) if isinstance(ref, int) else None
        if future is not None and not future.done():
            future.set_result(message)
