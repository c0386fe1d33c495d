"""The Bpod decoder on the reference's wire traces, in any chunking, with garbage mixed in."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from rig.devices.bpod import PROFILES
from rig.devices.bpod.decoder import (
    Decoder,
    Events,
    Garbage,
    Message,
    Reply,
    SoftCode,
    TrialEnd,
    TrialStart,
)

START_US = 1_234_567
END_US = START_US + 350_000
# Reference section 4.4 (FW23 r2): confirmation, start, Tup (173) at 500, soft code 4,
# Tup at 3500, end of trial at 3500 (3501 cycles completed), end time.
TRACE = (
    b"\x01"
    + struct.pack("<Q", START_US)
    + bytes.fromhex("01 01 AD F4 01 00 00")
    + bytes.fromhex("02 04")
    + bytes.fromhex("01 01 AD AC 0D 00 00")
    + bytes.fromhex("01 01 FF AC 0D 00 00 AD 0D 00 00")
    + struct.pack("<Q", END_US)
)
EXPECTED = [
    TrialStart(START_US, True, 0),
    Events((173,), 500, 9),
    SoftCode(4, 16),
    Events((173,), 3500, 18),
    TrialEnd(3500, 3501, END_US, 25),
]


def decode(chunks: list[bytes], decoder: Decoder | None = None) -> list[Message]:
    decoder = decoder or Decoder(events=174)
    if not decoder.pending:
        decoder.expect_trial(new_machine=True)
    out: list[Message] = []
    for chunk in chunks:
        out += decoder.feed(chunk)
    return out


def test_the_reference_trace_decodes_whole() -> None:
    assert decode([TRACE]) == EXPECTED


def test_the_reference_trace_decodes_one_byte_at_a_time() -> None:
    assert decode([bytes([b]) for b in TRACE]) == EXPECTED


@given(st.lists(st.integers(min_value=1, max_value=len(TRACE)), max_size=12))
def test_any_chunking_gives_the_same_messages(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    chunks = [TRACE[a:b] for a, b in zip([0, *points], [*points, len(TRACE)], strict=True)]
    assert decode(chunks) == EXPECTED


def test_a_rerun_without_a_new_machine_has_no_confirmation_byte() -> None:
    decoder = Decoder()
    decoder.expect_trial(new_machine=False)
    (start,) = decoder.feed(struct.pack("<Q", 42))
    assert start == TrialStart(42, None, 0)


def test_back_to_back_trials_queued_with_runasap() -> None:
    decoder = Decoder(events=174)
    decoder.expect_trial(new_machine=True)
    decoder.expect_trial(new_machine=True)
    second = b"\x01" + struct.pack("<Q", END_US + 100) + bytes.fromhex("01 01 FF 05 00 00 00")
    second += bytes.fromhex("05 00 00 00") + struct.pack("<Q", END_US + 600)
    messages = decoder.feed(TRACE + second)
    starts = [m for m in messages if isinstance(m, TrialStart)]
    assert [s.start_us for s in starts] == [START_US, END_US + 100]
    assert [m.cycle for m in messages if isinstance(m, TrialEnd)] == [3500, 5]
    assert decoder.pending == 0


@given(
    st.lists(
        st.binary(min_size=1, max_size=8).filter(lambda b: 1 not in b and 2 not in b),
        min_size=1,
        max_size=4,
    )
)
@settings(max_examples=200)
def test_garbage_between_frames_is_reported_and_the_frames_after_it_decoded(
    garbage: list[bytes],
) -> None:
    # garbage after the start, after the first event frame, ... (not inside a frame)
    cuts = [9, 16, 18, 25][: len(garbage)]
    stream, last = b"", 0
    for cut, junk in zip(cuts, garbage, strict=False):
        stream += TRACE[last:cut] + junk
        last = cut
    stream += TRACE[last:]
    messages = decode([stream])
    frames = [m for m in messages if not isinstance(m, Garbage)]
    assert [(type(m), getattr(m, "cycle", None)) for m in frames] == [
        (type(m), getattr(m, "cycle", None)) for m in EXPECTED
    ]
    assert sum(len(m.data) for m in messages if isinstance(m, Garbage)) == sum(map(len, garbage))


@given(st.binary(max_size=300), st.integers(min_value=1, max_value=17))
@settings(max_examples=300)
def test_random_bytes_never_crash_the_decoder(data: bytes, chunk: int) -> None:
    decoder = Decoder(events=174)
    decoder.expect_trial(new_machine=True)
    consumed = 0
    for i in range(0, len(data), chunk):
        for message in decoder.feed(data[i : i + chunk]):
            consumed = max(consumed, message.offset)
    assert consumed <= len(data)


def test_a_frame_with_impossible_codes_is_garbage_and_the_next_frame_decodes() -> None:
    decoder = Decoder(events=174)
    decoder.expect_trial(new_machine=False)
    stream = struct.pack("<Q", 0) + bytes.fromhex("01 01 C8 10 00 00 00")  # code 200
    stream += bytes.fromhex("01 01 6D 20 00 00 00")  # Port1In at cycle 32
    messages = decoder.feed(stream)
    assert isinstance(messages[1], Garbage) and messages[1].offset == 8
    assert messages[-1] == Events((109,), 32, 15)


def test_replies_with_discovery_bytes_before_the_handshake() -> None:
    decoder = Decoder()
    decoder.expect("handshake")
    decoder.expect("firmware")
    decoder.expect("minor")
    decoder.expect("hardware", firmware=23)
    decoder.expect("ack")
    hw = PROFILES["r2-fw23"]
    stream = b"\xde\xde5\xde" + struct.pack("<HH", 23, 3) + struct.pack("<H", 10)
    stream += hw.h_reply() + b"\x01"
    messages = decoder.feed(stream)
    assert [m.kind for m in messages if isinstance(m, Reply)] == [
        "handshake", "firmware", "minor", "hardware", "ack",
    ]  # fmt: skip
    assert messages[1].value == (23, 3)
    hardware = messages[3].value
    assert hardware.inputs == hw.inputs and hardware.outputs == hw.outputs  # type: ignore[attr-defined]
    assert decoder.discovery_bytes == 3


def test_a_wrong_handshake_reply_is_garbage_and_still_expected() -> None:
    decoder = Decoder()
    decoder.expect("handshake")
    messages = decoder.feed(b"x5")
    assert isinstance(messages[0], Garbage) and messages[0].offset == 0
    assert messages[1] == Reply("handshake", True, 1)


def test_module_enumeration() -> None:
    decoder = Decoder()
    decoder.expect("modules", modules=3)
    module = b"\x01" + struct.pack("<I", 5) + b"\x05HiFi1" + b"\x01#\x04" + b"\x01E\x02\x02ab\x01c"
    stream = b"\x00" + module + b"\x00\x00"  # module 2 connected; 1 and 3 are not
    for i in range(len(stream)):  # in pieces: nothing until the whole reply is there
        assert decoder.feed(stream[i : i + 1]) == [] or i == len(stream) - 1
    decoder2 = Decoder()
    decoder2.expect("modules", modules=3)
    (reply,) = decoder2.feed(stream)
    assert isinstance(reply, Reply)
    assert reply.value == (
        None,
        {"name": "HiFi1", "firmware": 5, "events": 4, "event_names": ["ab", "c"]},
        None,
    )


def test_a_soft_code_between_trials_is_decoded() -> None:
    decoder = Decoder()
    assert decoder.feed(b"\x02") == []
    assert decoder.feed(b"\x07") == [SoftCode(7, 0)]


def test_bytes_nobody_asked_for_are_garbage() -> None:
    decoder = Decoder()
    (message,) = decoder.feed(b"\xde\x07\x08")
    assert message == Garbage(b"\x07\x08", 1, "bytes nobody asked for")
