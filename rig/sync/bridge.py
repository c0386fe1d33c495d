"""``rig scope-bridge``: the microscope PC's end of the link.

A ROUTER socket (loopback by default; CURVE when a secret key is given): it answers
``Hello`` with ``Welcome``, heartbeats back, hands acquisition requests to its backend and
sends the reply, and appends every message it receives (and every one it refuses, with
why) to an append-only JSONL log. A bad message is counted and logged, never fatal.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import zmq

from rig.sync.backends import Backend
from rig.sync.curve import Guard, listen_safely, require_key
from rig.sync.messages import (
    REQUESTS,
    BadMessage,
    Heartbeat,
    Hello,
    Message,
    RemoteError,
    Welcome,
    decode,
    encode,
)


class Bridge:
    def __init__(
        self,
        bind: str,
        backend: Backend,
        log_path: Path,
        *,
        bridge_id: str = "scope",
        curve_secret_key: bytes | None = None,
        allowed: set[bytes] | None = None,
    ) -> None:
        """``curve_secret_key`` (Z85): required to listen beyond loopback; ``allowed``: the
        rigs' public keys let in (None: any rig that knows the bridge's public key)."""
        if curve_secret_key is None:
            require_key(bind, None)  # refuses beyond loopback
        self.bind, self.backend, self.bridge_id = bind, backend, bridge_id
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.MAXMSGSIZE, 4 * 64 * 1024)  # bigger: ZeroMQ drops it
        listen_safely(self.socket)  # garbage read as ZMTP 1.0 aborted libzmq
        self.guard = None
        if curve_secret_key is not None:
            self.guard = Guard(self.context, curve_secret_key, allowed)
            self.guard.protect(self.socket, "bridge")
        self.socket.bind(bind)
        self.log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.received = 0
        self.refused = 0
        self.peers: dict[bytes, float] = {}  # identity -> last heard (monotonic)
        self._stop = threading.Event()

    def _write(self, entry: dict[str, Any]) -> None:
        os.write(self.log, (json.dumps(entry, separators=(",", ":")) + "\n").encode())

    def serve(self) -> None:
        try:
            while not self._stop.is_set():
                if not self.socket.poll(100):
                    continue
                frames = self.socket.recv_multipart()
                self.handle(frames[0], frames[1:])
        finally:
            if self.guard is not None:
                self.guard.stop()
            self.socket.close()
            os.close(self.log)
            self.context.term()

    def stop(self) -> None:
        self._stop.set()

    def handle(self, peer: bytes, frames: list[bytes]) -> None:
        now = time.time()
        try:
            message = decode(frames)
        except BadMessage as exc:
            self.refused += 1
            self._write({"t": now, "peer": peer.hex(), "refused": str(exc)})
            return
        self.received += 1
        self.peers[peer] = time.monotonic()
        self._write({"t": now, "peer": peer.hex(), "type": type(message).__name__,
                     "body": message.model_dump(mode="json")})  # fmt: skip
        reply: Message | None = None
        if isinstance(message, Hello):
            if message.protocol_version != 1:
                reply = RemoteError(
                    ref=None,
                    code="version",
                    message=f"protocol {message.protocol_version} not supported",
                )
            else:
                reply = Welcome(bridge_id=self.bridge_id, t=now, offset_s=now - message.t)
        elif isinstance(message, Heartbeat):
            reply = Heartbeat(t=now)
        elif isinstance(message, REQUESTS):
            try:
                reply = self.backend.handle(message)
            except Exception as exc:  # the backend's failure is the rig's to hear, not ours
                reply = RemoteError(ref=getattr(message, "id", None), code="backend",
                                    message=f"{type(exc).__name__}: {exc}")  # fmt: skip
        if reply is not None:
            self.socket.send_multipart([peer, *encode(reply)])
