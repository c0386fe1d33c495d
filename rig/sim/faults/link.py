"""Faults on an emulated device's serial link (``rig emulate bpod --fault SPEC``, or the
session's ``emulate://bpod?profile=P&fault=SPEC``), counted in bytes the device sent:

- ``garbage-every=N``: after every N bytes, 1-16 random bytes (seeded) are slipped in;
- ``silent-after=N``: after N bytes the link goes dead both ways for 2 s (a cable pulled
  and pushed back), then works again;
- ``reset-after=N``: after N bytes the device resets (power glitch): its state machine,
  trial and clock are gone, as after power-on.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

KINDS = ("garbage-every", "silent-after", "reset-after")
SILENT_S = 2.0


class LinkFault:
    def __init__(self, spec: str, *, seed: int = 0) -> None:
        kind, _, value = spec.partition("=")
        if kind not in KINDS or not value.isdigit() or int(value) < 1:
            raise ValueError(
                f"link fault {spec!r}: use one of {', '.join(k + '=N' for k in KINDS)}"
            )
        self.kind, self.every = kind, int(value)
        self.rng = random.Random(seed)
        self.sent = 0
        self.injected = 0  # garbage bytes slipped in, or 1 once the fault happened
        self._silent_until: float | None = None
        self.on_reset: Callable[[], None] = lambda: None

    @property
    def silent(self) -> bool:
        return self._silent_until is not None and time.monotonic() < self._silent_until

    def outgoing(self, data: bytes) -> bytes:
        """What reaches the host of the ``data`` the device sent."""
        if self.silent:
            return b""
        before, self.sent = self.sent, self.sent + len(data)
        if self.kind == "garbage-every":
            out = bytearray()
            for i, byte in enumerate(data, before + 1):
                out.append(byte)
                if i % self.every == 0:
                    junk = self.rng.randbytes(self.rng.randint(1, 16))
                    out += junk
                    self.injected += len(junk)
            return bytes(out)
        if before < self.every <= self.sent and not self.injected:
            self.injected = 1
            if self.kind == "silent-after":
                self._silent_until = time.monotonic() + SILENT_S
                return data[: self.every - before]
            self.on_reset()
            return data[: self.every - before]
        return data

    def incoming(self, data: bytes) -> bytes:
        """What reaches the device of the ``data`` the host sent."""
        return b"" if self.silent else data
