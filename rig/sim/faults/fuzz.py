"""Every decoder of bytes from outside, as a fuzzing target (``tests/unit/test_fuzz.py``
with hypothesis, ``bench/fuzz.py`` with 10^6 random and mutated inputs).

A target takes one input and either returns (decoded, or the input reported as garbage at
its offset) or raises its decoder's own located error (``EXPECTED``); any other exception is
a crash. Each target has seeds, valid inputs, that :func:`mutate` changes byte by byte.
"""

from __future__ import annotations

import random
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path

from rig.control import wire
from rig.devices.bpod.decoder import Decoder as BpodDecoder
from rig.devices.lickport import codec
from rig.schema.loader import LoadError, load_model
from rig.schema.protocol import Protocol
from rig.sync import messages

ROOT = Path(__file__).resolve().parents[3]


def bpod(data: bytes) -> None:
    """The Bpod's serial stream during a trial, in chunks of 1 to 17 bytes."""
    decoder = BpodDecoder(events=174)
    decoder.expect_trial(new_machine=True)
    step = 1 + len(data) % 17
    for i in range(0, len(data), step):
        decoder.feed(data[i : i + step])


def lickport(data: bytes) -> None:
    """The lick-port board's byte stream (COBS frames with a CRC each)."""
    codec.Decoder().feed(data)


def lickport_payload(data: bytes) -> None:
    """One frame's payload, past its CRC (random bytes seldom get that far)."""
    codec.parse(data)


def scope(data: bytes) -> None:
    """A microscope-link message: type frame and JSON body split at the first 0x00."""
    head, _, body = data.partition(b"\x00")
    messages.decode([head, body])


def gui_wire(data: bytes) -> None:
    """A message the controller publishes to GUIs: header and body split at 0x00."""
    head, _, body = data.partition(b"\x00")
    wire.decode(head, body)


def protocol_yaml(data: bytes) -> None:
    """A protocol file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "protocol.yaml"
        path.write_bytes(data)
        load_model(path, Protocol)


def _trace() -> bytes:
    start, end = 1_234_567, 1_584_567
    return (
        b"\x01" + struct.pack("<Q", start) + bytes.fromhex("01 01 AD F4 01 00 00 02 04")
        + bytes.fromhex("01 01 AD AC 0D 00 00 01 01 FF AC 0D 00 00 AD 0D 00 00")
        + struct.pack("<Q", end)
    )  # fmt: skip


def _board_payloads() -> list[bytes]:
    def event(kind: str, t_us: int, body: bytes) -> bytes:
        return b"v" + kind.encode() + struct.pack("<IH", t_us, 0) + body

    payloads = [
        struct.pack("<c8BHB", b"h", 1, 1, 0, 0, 1, 20, 32, 16, 255, 4),
        event("S", 100, struct.pack("<I", 3)), event("s", 104, b"\x01"),
        event("i", 5000, b"\x00"), event("o", 5000, struct.pack("<BBH", 0, 1, 0)),
        event("E", 9000, b"\x00"),
        struct.pack("<cBII", b"a", ord("Q"), 7, 0),
    ]  # fmt: skip
    return payloads


QUEUED = b'{"trial":3,"label":"T1","instructed":"left","free_drop":false,"sm_hash":"ab"}'


def _seeds() -> dict[str, list[bytes]]:
    trial = messages.TrialStart(trial=3, uid="s/3", context="T1", instructed="left", device_t=1.5)
    status = messages.Status(ref=1, acquiring=True, acquisition=1, file_stem="s",
                             frames_acquired=10, frames_dropped=0)  # fmt: skip
    return {
        "bpod": [_trace()],
        "lickport": [b"".join(codec.frame(p) for p in _board_payloads())],
        "lickport_payload": _board_payloads(),
        "scope": [b"\x00".join(messages.encode(m)) for m in (trial, status)],
        "gui_wire": [wire.encode_header(5, "TrialQueued", 1.0) + b"\x00" + QUEUED],
        "protocol_yaml": [(ROOT / "protocols/continual_learning.yaml").read_bytes()],
    }


TARGETS: dict[str, Callable[[bytes], None]] = {
    "bpod": bpod, "lickport": lickport, "lickport_payload": lickport_payload, "scope": scope,
    "gui_wire": gui_wire, "protocol_yaml": protocol_yaml,
}  # fmt: skip
EXPECTED: dict[str, tuple[type[Exception], ...]] = {
    "bpod": (),
    "lickport": (),
    "lickport_payload": (codec.CodecError,),
    "scope": (messages.BadMessage,),
    "gui_wire": (wire.WireError,),
    "protocol_yaml": (LoadError,),
}
SEEDS = _seeds()


def mutate(seed: bytes, rng: random.Random, edits: int = 4) -> bytes:
    """``seed`` with a few random edits: flips, random bytes, insertions, deletions, a
    duplicated or cut-off stretch."""
    data = bytearray(seed)
    for _ in range(rng.randint(1, edits)):
        op = rng.randrange(6)
        i = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[i % len(data)] ^= 1 << rng.randrange(8)
        elif op == 1 and data:
            data[i % len(data)] = rng.randrange(256)
        elif op == 2:
            data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 3:
            del data[i : i + rng.randint(1, 8)]
        elif op == 4:
            j = rng.randint(i, len(data))
            data[j:j] = data[i:j][:64]
        else:
            del data[i:]
    return bytes(data)


def run_one(target: str, data: bytes) -> str | None:
    """None if the target decoded ``data`` or refused it with its own error; else the crash."""
    try:
        TARGETS[target](data)
    except EXPECTED[target]:
        return None
    except Exception as exc:  # a crash: anything the decoder did not mean to raise
        return f"{type(exc).__name__}: {exc}"
    return None
