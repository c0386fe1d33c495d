"""The lick-port wire format, without I/O: frames, commands, and a decoder for the board's
byte stream (``firmware/lickport/PROTOCOL.md``; the constants mirror ``core/lickport.h``).

A frame is COBS(payload + CRC-16/CCITT-FALSE, little-endian) followed by ``0x00``; a
payload is a type byte and its body. The decoder takes bytes in any chunking and yields
messages; what is not a valid frame comes out as :class:`Garbage` with its offset in the
stream, and decoding goes on at the next ``0x00``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from rig.fsm.model import EVENTS
from rig.schema.hardware import INPUT_CHANNELS, OUTPUT_CHANNELS

PROTOCOL = 1
BAUD = 500_000
MAX_PAYLOAD = 64
UPLOAD_CHUNK = MAX_PAYLOAD - 3  # type + offset
NO_TRIAL = 0xFFFFFFFF
EVENT_NAMES = EVENTS  # lick_left, lick_left_off, ..., aux_off, Tup: the board's event codes
assert EVENT_NAMES[-1] == "Tup" and len(EVENT_NAMES) == 2 * len(INPUT_CHANNELS) + 1
CHANNEL_CODES = {name: i for i, name in enumerate(OUTPUT_CHANNELS)}
END_REASONS = ("exit", "abort", "watchdog")
BOARDS = {1: "uno", 2: "mega"}
ERRORS = {
    1: "bad CRC",
    2: "bad COBS framing",
    3: "frame too long",
    4: "unknown message type",
    5: "bad length",
    6: "upload offset out of range",
    7: "invalid state machine",
    8: "busy: a trial is already queued",
    9: "refused while a trial runs",
    10: "events lost: the board's send buffer overflowed",
    11: "host heartbeat lost: valves closed, trial stopped",
    12: "bad value",
}


class CodecError(ValueError):
    """A message that does not follow the protocol."""


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def cobs_encode(data: bytes) -> bytes:
    out, block = bytearray(), bytearray()
    for byte in data:
        if byte == 0:
            out += bytes([len(block) + 1]) + block
            block.clear()
        else:
            block.append(byte)
            if len(block) == 254:
                out += b"\xff" + block
                block.clear()
    out += bytes([len(block) + 1]) + block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(data):
        code = data[i]
        if code == 0 or i + code > len(data):
            raise CodecError(f"COBS block at byte {i} runs past the frame")
        block = data[i + 1 : i + code]
        if 0 in block:
            raise CodecError(f"zero byte inside the frame at byte {i + 1 + block.index(0)}")
        out += block
        i += code
        if code != 0xFF and i < len(data):
            out.append(0)
    return bytes(out)


def frame(payload: bytes) -> bytes:
    """A payload (type + body) as it goes on the wire."""
    if not 1 <= len(payload) <= MAX_PAYLOAD:
        raise CodecError(f"payload of {len(payload)} bytes (1 to {MAX_PAYLOAD})")
    return cobs_encode(payload + struct.pack("<H", crc16(payload))) + b"\x00"


# -- host -> board ----------------------------------------------------------------------------
def hello() -> bytes:
    return frame(b"H")


def heartbeat() -> bytes:
    return frame(b"B")


def abort() -> bytes:
    return frame(b"X")


def stats(reset: bool = False) -> bytes:
    return frame(b"T" + bytes([int(reset)]))


def config(
    *, debounce_us: tuple[int, int], heartbeat_ms: int, max_open_ms: tuple[int, int], bitcode: bool
) -> bytes:
    return frame(b"C" + struct.pack("<5HB", *debounce_us, heartbeat_ms, *max_open_ms, bitcode))


def override(channel: str, value: int, duration_ms: int = 0, freq_hz: int = 0) -> bytes:
    return frame(b"O" + struct.pack("<BBHH", CHANNEL_CODES[channel], value, duration_ms, freq_hz))


def upload(blob: bytes, trial: int) -> list[bytes]:
    """The frames that send a machine (:mod:`rig.devices.lickport.compiler`) and queue it."""
    frames = [
        frame(b"U" + struct.pack("<H", at) + blob[at : at + UPLOAD_CHUNK])
        for at in range(0, len(blob), UPLOAD_CHUNK)
    ]
    return [*frames, frame(b"Q" + struct.pack("<IH", trial, len(blob)))]


# -- board -> host ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Hello:
    protocol: int
    firmware: str
    board: str
    max_states: int
    max_transitions: int
    max_outputs: int
    max_blob: int
    tick_us: int


@dataclass(frozen=True, slots=True)
class Ack:
    of: str  # the command acknowledged ('Q', 'X', ...)
    arg: int
    arg2: int


@dataclass(frozen=True, slots=True)
class BoardError:
    code: int
    of: str  # the command concerned, '' if unknown
    detail: int

    def describe(self) -> str:
        what = ERRORS.get(self.code, f"error {self.code}")
        about = (
            f" (in {self.of!r}, detail {self.detail})" if self.of else f" (detail {self.detail})"
        )
        return what + about


@dataclass(frozen=True, slots=True)
class Event:
    """kind: trial_start (value = trial), state (value = index), input (name), output
    (name, value, freq_hz), trial_end (name = reason), valve_cut (name = valve)."""

    kind: str
    t_us: int  # the board's clock, 48 bits
    name: str = ""
    value: int = 0
    freq_hz: int = 0


@dataclass(frozen=True, slots=True)
class Status:
    t_us: int
    running: bool
    trial: int
    state: int
    queued: bool
    queued_trial: int
    watchdog_fired: bool
    valve_open: bool


@dataclass(frozen=True, slots=True)
class LoopStats:
    passes: int
    max_us: int
    histogram: tuple[int, ...]  # bucket i: periods in [4i, 4i + 4) us; the last: 60 us and over


@dataclass(frozen=True, slots=True)
class Garbage:
    offset: int  # of the frame's first byte in the stream
    data: bytes
    why: str


Message = Hello | Ack | BoardError | Event | Status | LoopStats | Garbage


def _time(body: bytes) -> int:
    low, high = struct.unpack_from("<IH", body)
    return int(low) | int(high) << 32


def _event(body: bytes) -> Event:
    if len(body) < 7:
        raise CodecError(f"an event of {len(body)} bytes (at least 7: kind, time)")
    kind, t = chr(body[0]), _time(body[1:7])
    rest = body[7:]
    if kind == "S" and len(rest) == 4:
        return Event("trial_start", t, value=struct.unpack("<I", rest)[0])
    if kind == "s" and len(rest) == 1:
        return Event("state", t, value=rest[0])
    if kind == "i" and len(rest) == 1 and rest[0] < len(EVENT_NAMES):
        return Event("input", t, EVENT_NAMES[rest[0]])
    if kind == "o" and len(rest) == 4 and rest[0] < len(OUTPUT_CHANNELS):
        channel, value, freq = struct.unpack("<BBH", rest)
        return Event("output", t, OUTPUT_CHANNELS[channel], value, freq)
    if kind == "E" and len(rest) == 1 and rest[0] < len(END_REASONS):
        return Event("trial_end", t, END_REASONS[rest[0]])
    if kind == "c" and len(rest) == 1 and rest[0] < 2:
        return Event("valve_cut", t, OUTPUT_CHANNELS[rest[0]])
    raise CodecError(f"event {kind!r} with a {len(rest)}-byte body")


def parse(payload: bytes) -> Message:
    """One frame's payload (CRC checked and removed) -> a message; CodecError if malformed."""
    if not payload:
        raise CodecError("an empty message")
    kind, body = chr(payload[0]), payload[1:]
    try:
        if kind == "v":
            return _event(body)
        if kind == "h":
            p, major, minor, patch, board, ns, nt, no, blob, tick = struct.unpack("<8BHB", body)
            return Hello(
                p, f"{major}.{minor}.{patch}", BOARDS.get(board, str(board)), ns, nt, no, blob, tick
            )
        if kind == "a":
            of, arg, arg2 = struct.unpack("<BII", body)
            return Ack(chr(of), arg, arg2)
        if kind == "e":
            code, of, detail = struct.unpack("<BBH", body)
            return BoardError(code, chr(of) if of else "", detail)
        if kind == "s":
            s = struct.unpack("<IHBIBBIBBB", body)
            return Status(
                s[0] | s[1] << 32, bool(s[2]), s[3], s[4], bool(s[5]), s[6], bool(s[7]), bool(s[8])
            )
        if kind == "t":
            passes, max_us, *hist = struct.unpack("<IH16H", body)
            return LoopStats(passes, max_us, tuple(hist))
    except struct.error as exc:
        raise CodecError(f"message {kind!r}: {exc}") from None
    raise CodecError(f"unknown message type {kind!r}")


class Decoder:
    """The board's byte stream -> messages, in any chunking."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._start = 0  # stream offset of the buffer's first byte

    def feed(self, data: bytes) -> list[Message]:
        self._buffer += data
        out: list[Message] = []
        while (end := self._buffer.find(0)) >= 0:
            raw = bytes(self._buffer[:end])
            offset = self._start
            del self._buffer[: end + 1]
            self._start += end + 1
            if raw:
                out.append(self._decode(raw, offset))
        if len(self._buffer) > 4 * MAX_PAYLOAD:  # no delimiter for far too long
            out.append(Garbage(self._start, bytes(self._buffer), "no frame delimiter"))
            self._start += len(self._buffer)
            self._buffer.clear()
        return out

    @staticmethod
    def _decode(raw: bytes, offset: int) -> Message:
        try:
            data = cobs_decode(raw)
            if len(data) < 3:
                raise CodecError(f"a {len(data)}-byte frame")
            payload, (crc,) = data[:-2], struct.unpack("<H", data[-2:])
            if crc16(payload) != crc:
                raise CodecError("CRC mismatch")
            return parse(payload)
        except CodecError as exc:
            return Garbage(offset, raw, str(exc))
