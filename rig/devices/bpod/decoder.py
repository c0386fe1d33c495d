"""Bpod -> host bytes, decoded incrementally (safe with 1-byte chunks, never raises on garbage).

The Bpod's replies are not self-describing: the host knows what it asked. So the caller
tells the decoder what comes next, in order: :meth:`Decoder.expect` a reply, or
:meth:`Decoder.expect_trial` for a trial the device will run (with the confirmation byte
when a new state machine was sent). Bytes are then decoded as they arrive, into typed
messages. During a trial the stream is framed (reference section 4.2):

- ``01 n <n codes> <u32 cycle>``: events of one cycle;
- ``02 code``: a soft code to the host;
- ``01 01 FF <u32 cycle> <u32 cycles completed> <u64 end us>``: the end of the trial.

A byte that cannot start a frame is reported as :class:`Garbage` (with its offset in the
stream) and skipped: decoding resumes at the next byte that can. A frame whose event codes
do not exist on the machine (``events``: the number of event codes, from ``'H'``) or whose
cycle goes back in time is not a frame either: its first byte is garbage. Discovery bytes (0xDE)
before a reply are skipped and counted. A reply that does not match what was expected is
reported as :class:`Garbage` too and the expectation stays.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass
from typing import Literal

from rig.devices.bpod.hardware import BpodHardware, HardwareError

DISCOVERY = 0xDE
END_CODE = 255

ReplyKind = Literal[
    "handshake", "firmware", "minor", "pcb", "timestamps", "ack", "disconnect", "hardware",
    "modules", "input_level",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Reply:
    kind: ReplyKind
    value: object
    offset: int


@dataclass(frozen=True, slots=True)
class TrialStart:
    start_us: int
    confirmed: bool | None  # the confirmation byte, when a new machine was sent
    offset: int


@dataclass(frozen=True, slots=True)
class Events:
    codes: tuple[int, ...]
    cycle: int  # cycles since the trial's start
    offset: int


@dataclass(frozen=True, slots=True)
class SoftCode:
    code: int
    offset: int


@dataclass(frozen=True, slots=True)
class TrialEnd:
    cycle: int
    cycles_completed: int
    end_us: int
    offset: int


@dataclass(frozen=True, slots=True)
class Garbage:
    data: bytes
    offset: int
    reason: str


Message = Reply | TrialStart | Events | SoftCode | TrialEnd | Garbage

_FIXED: dict[str, tuple[str, int]] = {  # reply kind -> (struct format, size)
    "firmware": ("<HH", 4),
    "minor": ("<H", 2),
    "pcb": ("<B", 1),
    "timestamps": ("<B", 1),
    "ack": ("<B", 1),
    "input_level": ("<B", 1),
}


@dataclass(frozen=True, slots=True)
class _ReplyWanted:
    kind: ReplyKind
    firmware: int = 23
    modules: int = 0


@dataclass
class _TrialWanted:
    confirm: bool
    started: bool = False


class Decoder:
    def __init__(self, events: int | None = None, max_per_cycle: int = 100) -> None:
        self.events = events  # event codes are 0..events-1 (None: not checked)
        self.max_per_cycle = max_per_cycle  # 10 on machine types 1-2, 100 on 3-4
        self._cycle = 0  # the last cycle of the running trial
        self._buf = bytearray()
        self._offset = 0  # stream offset of _buf[0]
        self._wanted: deque[_ReplyWanted | _TrialWanted] = deque()
        self.discovery_bytes = 0

    # -- what comes next ----------------------------------------------------------------------
    def expect(self, kind: ReplyKind, *, firmware: int = 23, modules: int = 0) -> None:
        """A reply to a command just sent (``firmware`` for ``'H'``, ``modules`` for ``'M'``)."""
        self._wanted.append(_ReplyWanted(kind, firmware, modules))

    def expect_trial(self, new_machine: bool) -> None:
        """A trial the device will start (``'R'``, or ``'C'`` with RunASAP)."""
        self._wanted.append(_TrialWanted(new_machine))

    @property
    def pending(self) -> int:
        return len(self._wanted)

    @property
    def in_trial(self) -> bool:
        head = self._wanted[0] if self._wanted else None
        return isinstance(head, _TrialWanted) and head.started

    # -- bytes in, messages out ----------------------------------------------------------------
    def feed(self, data: bytes) -> list[Message]:
        self._buf += data
        out: list[Message] = []
        while self._buf:
            message = self._next()
            if message is None:
                break
            out.append(message)
        return out

    def _take(self, n: int) -> tuple[bytes, int]:
        chunk, offset = bytes(self._buf[:n]), self._offset
        del self._buf[:n]
        self._offset += n
        return chunk, offset

    def _next(self) -> Message | None:
        if not self._wanted:
            if self._buf[0] == DISCOVERY:
                self._take(1)
                self.discovery_bytes += 1
                return self._next() if self._buf else None
            if self._buf[0] == 2:  # a soft code between trials: the echo of an 'S'
                if len(self._buf) < 2:
                    return None
                data, offset = self._take(2)
                return SoftCode(data[1], offset)
            data, offset = self._take(len(self._buf))
            return Garbage(data, offset, "bytes nobody asked for")
        head = self._wanted[0]
        if isinstance(head, _ReplyWanted):
            return self._reply(head)
        return self._trial(head)

    # -- replies -------------------------------------------------------------------------------
    def _reply(self, want: _ReplyWanted) -> Message | None:
        buf = self._buf
        if buf[0] == DISCOVERY and want.kind in ("handshake", "firmware"):
            self._take(1)
            self.discovery_bytes += 1
            return self._next() if self._buf else None
        if want.kind in ("handshake", "disconnect"):
            expected = b"5" if want.kind == "handshake" else b"1"
            data, offset = self._take(1)
            if data != expected:
                return Garbage(data, offset, f"expected {expected!r} for the {want.kind}")
            return self._done(Reply(want.kind, True, offset))
        if want.kind in _FIXED:
            fmt, size = _FIXED[want.kind]
            if len(buf) < size:
                return None
            data, offset = self._take(size)
            values = struct.unpack(fmt, data)
            return self._done(Reply(want.kind, values if len(values) > 1 else values[0], offset))
        if want.kind == "hardware":
            return self._hardware(want)
        return self._modules(want)

    def _done(self, message: Message) -> Message:
        self._wanted.popleft()
        return message

    def _hardware(self, want: _ReplyWanted) -> Message | None:
        buf = self._buf
        head = 6 if want.firmware >= 23 else 5
        if len(buf) < head + 4:
            return None
        n_in = buf[head + 3]
        if len(buf) < head + 4 + n_in + 1:
            return None
        n_out = buf[head + 4 + n_in]
        size = head + 4 + n_in + 1 + n_out
        if len(buf) < size:
            return None
        data, offset = self._take(size)
        try:
            hw = BpodHardware.from_h_reply(data, want.firmware, machine_type=0)
        except HardwareError as exc:
            return Garbage(data, offset, f"not a hardware description: {exc}")
        return self._done(Reply("hardware", hw, offset))

    def _modules(self, want: _ReplyWanted) -> Message | None:
        modules: list[dict[str, object] | None] = []
        at = 0
        buf = self._buf
        for _ in range(want.modules):
            if at >= len(buf):
                return None
            connected = buf[at]
            at += 1
            if not connected:
                modules.append(None)
                continue
            if at + 5 > len(buf):
                return None
            version = struct.unpack_from("<I", buf, at)[0]
            length = buf[at + 4]
            at += 5
            if at + length + 1 > len(buf):
                return None
            name = bytes(buf[at : at + length]).decode("ascii", "replace")
            at += length
            info, at = _module_info(buf, at)
            if info is None:
                return None
            modules.append({"name": name, "firmware": version, **info})
        _, offset = self._take(at)
        return self._done(Reply("modules", tuple(modules), offset))

    # -- the trial stream ----------------------------------------------------------------------
    def _known(self, codes: bytes) -> bool:
        """Every code (so far) exists on this machine, or ends the trial."""
        events = self.events
        return events is None or all(c < events or c == END_CODE for c in codes)

    def _trial(self, want: _TrialWanted) -> Message | None:
        buf = self._buf
        if not want.started:
            need = 9 if want.confirm else 8
            if len(buf) < need:
                return None
            confirmed = buf[0] == 1 if want.confirm else None
            data, offset = self._take(need)
            want.started = True
            self._cycle = 0
            return TrialStart(struct.unpack("<Q", data[-8:])[0], confirmed, offset)
        opcode = buf[0]
        if opcode == 2:
            if len(buf) < 2:
                return None
            data, offset = self._take(2)
            return SoftCode(data[1], offset)
        if opcode != 1:
            data, offset = self._take(1)
            return Garbage(data, offset, f"0x{opcode:02X} cannot start a frame")
        if len(buf) < 2:
            return None
        n = buf[1]
        codes = bytes(buf[2 : 2 + n])
        if n == 0 or n > self.max_per_cycle or not self._known(codes):
            data, offset = self._take(1)  # judged as early as possible, so garbage
            return Garbage(data, offset, "not a valid frame (event count or codes)")
        ends = END_CODE in codes
        size = 2 + n + 4 + (12 if ends else 0)
        if len(buf) < size:
            return None
        cycle = struct.unpack_from("<I", buf, 2 + n)[0]
        valid = codes.index(END_CODE) == len(codes) - 1 if ends else True
        if not valid or cycle < self._cycle:
            data, offset = self._take(1)
            return Garbage(data, offset, "not a valid frame (event codes or cycle)")
        data, offset = self._take(size)
        self._cycle = cycle
        if ends:
            completed, end_us = struct.unpack_from("<IQ", data, 2 + n + 4)
            self._wanted.popleft()
            return TrialEnd(cycle, completed, end_us, offset)
        return Events(tuple(codes), cycle, offset)


def _module_info(buf: bytearray, at: int) -> tuple[dict[str, object] | None, int]:
    """The ``moreInfo`` list after a module's name; (None, at) if it is not complete yet."""
    info: dict[str, object] = {}
    while True:
        if at >= len(buf):
            return None, at
        more = buf[at]
        at += 1
        if not more:
            return info, at
        if at + 2 > len(buf):
            return None, at
        kind, value = chr(buf[at]), buf[at + 1]
        at += 2
        if kind == "#":
            info["events"] = value
        elif kind in "Vv":
            info["hardware_major" if kind == "V" else "hardware_minor"] = value
        elif kind == "E":
            names = []
            for _ in range(value):
                if at >= len(buf) or at + 1 + buf[at] > len(buf):
                    return None, at
                length = buf[at]
                names.append(bytes(buf[at + 1 : at + 1 + length]).decode("ascii", "replace"))
                at += 1 + length
            info["event_names"] = names
        else:
            info["unknown_info"] = kind  # its payload size is unknown: stop reading here
            return info, at
