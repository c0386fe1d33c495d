"""The lick-port wire format on the host: frames, the decoder, the machine compiler."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rig.devices.lickport import codec
from rig.devices.lickport.compiler import EXIT, NONE, LickportCompileError, Limits, compile_blob
from rig.fsm.model import Output, State, StateMachine
from rig.schema.hardware import HardwareConfig
from rig.schema.loader import load_model
from rig.schema.protocol import Protocol
from rig.task.builder import build_trial
from rig.task.spec import TrialSpec

ROOT = Path(__file__).resolve().parents[2]


def test_crc_is_ccitt_false() -> None:
    assert codec.crc16(b"123456789") == 0x29B1


@given(st.binary(max_size=600))
def test_cobs_round_trip_has_no_zero(data: bytes) -> None:
    encoded = codec.cobs_encode(data)
    assert 0 not in encoded
    assert codec.cobs_decode(encoded) == data


def _event_payload(kind: str, t_us: int, body: bytes) -> bytes:
    return b"v" + kind.encode() + struct.pack("<IH", t_us & 0xFFFFFFFF, t_us >> 32) + body


@given(st.lists(st.integers(1, 50), min_size=1, max_size=20))
def test_decoder_takes_any_chunking(cuts: list[int]) -> None:
    stream = (
        codec.frame(_event_payload("S", 5_000_000_000, struct.pack("<I", 12)))
        + codec.frame(_event_payload("o", 17, bytes([2, 1]) + struct.pack("<H", 3700)))
        + codec.frame(b"a" + struct.pack("<BII", ord("Q"), 12, codec.NO_TRIAL))
    )
    messages: list[codec.Message] = []
    decoder, at = codec.Decoder(), 0
    for cut in cuts * 10:
        messages += decoder.feed(stream[at : at + cut])
        at += cut
    messages += decoder.feed(stream[at:])
    assert messages == [
        codec.Event("trial_start", 5_000_000_000, value=12),
        codec.Event("output", 17, "go_cue", 1, 3700),
        codec.Ack("Q", 12, codec.NO_TRIAL),
    ]


def test_garbage_is_located_and_skipped() -> None:
    good = codec.frame(b"v" + b"i" + bytes(6) + bytes([8]))
    payload = b"h" + bytes(11)
    bad_crc = codec.cobs_encode(payload + struct.pack("<H", codec.crc16(payload) ^ 1)) + b"\0"
    stream = good + b"\x07\x01garbage\x00" + bad_crc + good
    messages = codec.Decoder().feed(stream)
    assert [type(m).__name__ for m in messages] == ["Event", "Garbage", "Garbage", "Event"]
    first, second = messages[1], messages[2]
    assert isinstance(first, codec.Garbage) and first.offset == len(good)
    assert isinstance(second, codec.Garbage) and second.why == "CRC mismatch"
    assert second.offset == len(good) + 10


def test_a_stream_without_delimiters_is_dropped_as_garbage() -> None:
    messages = codec.Decoder().feed(b"\x05" * 300)
    assert len(messages) == 1 and isinstance(messages[0], codec.Garbage)


def test_upload_frames_fit_the_board() -> None:
    frames = codec.upload(bytes(range(256)) * 2, trial=3)
    assert all(len(f) <= codec.MAX_PAYLOAD + 4 for f in frames)
    payloads = [codec.cobs_decode(f[:-1])[:-2] for f in frames]
    assert b"".join(p[3:] for p in payloads[:-1]) == bytes(range(256)) * 2
    assert payloads[-1][:1] == b"Q" and struct.unpack("<IH", payloads[-1][1:]) == (3, 512)


def _t1_machine(free_drop: bool) -> StateMachine:
    hardware = load_model(ROOT / "hardware_configs/sim.yaml", HardwareConfig)
    protocol = load_model(ROOT / "protocols/tactile_T1.yaml", Protocol)
    spec = TrialSpec(1, "T1", "T1", 0, None, "left", free_drop, 1.3)
    return build_trial(protocol, hardware, spec)


@pytest.mark.parametrize("free_drop", [False, True])
def test_the_task_fits_an_uno(free_drop: bool) -> None:
    machine = _t1_machine(free_drop)
    blob = compile_blob(machine)
    n_states, n_transitions, n_outputs, zero = blob[:4]
    assert n_states == len(machine.states) and zero == 0
    assert len(blob) == 4 + 9 * n_states + 2 * n_transitions + 8 * n_outputs
    first = struct.unpack_from("<I5B", blob, 4)
    assert first[0] == round(machine.states[0].timer_s * 1e6)  # whole 100 us cycles


def test_compiled_rows() -> None:
    machine = StateMachine(
        states=(
            State(
                name="A",
                timer_s=0.25,
                transitions={"Tup": "B", "lick_left": "A"},
                outputs=(Output(channel="valve_left", duration_s=0.03),),
            ),
            State(
                name="B",
                transitions={"lick_right": "exit"},
                outputs=(Output(channel="go_cue", freq_hz=3700.0),),
            ),
        )
    )
    blob = compile_blob(machine)
    assert blob[:4] == bytes([2, 1, 2, 0])
    assert struct.unpack_from("<I5B", blob, 4) == (250_000, 1, 0, 0, 0, 1)  # self edge dropped
    assert struct.unpack_from("<I5B", blob, 13) == (0, NONE, 0, 1, 1, 1)
    assert blob[22:24] == bytes([2, EXIT])
    assert struct.unpack_from("<2BHI", blob, 24) == (0, 1, 0, 30_000)
    assert struct.unpack_from("<2BHI", blob, 32) == (2, 1, 3700, 0)


def test_what_the_board_cannot_hold_is_refused_with_reasons() -> None:
    machine = _t1_machine(True)
    with pytest.raises(LickportCompileError) as caught:
        compile_blob(machine, Limits(max_states=8, max_transitions=5, max_outputs=16))
    text = str(caught.value)
    assert f"{len(machine.states)} states; the board holds 8" in text
    assert "transitions (Tup aside); the board holds 5" in text
    assert "outputs" not in text


def test_the_preflight_check_refuses_what_the_board_cannot_hold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import rig.session.preflight as preflight

    protocol = load_model(ROOT / "protocols/tactile_T1.yaml", Protocol)
    hardware = load_model(ROOT / "hardware_configs/lickport-emulator.yaml", HardwareConfig)
    assert preflight.preflight(protocol, hardware) == []
    monkeypatch.setattr(preflight, "UNO", Limits(max_states=10))  # a smaller board
    problems = preflight.preflight(protocol, hardware)
    assert problems and "states; the board holds 10" in problems[0]
    sim = load_model(ROOT / "hardware_configs/sim.yaml", HardwareConfig)
    assert preflight.preflight(protocol, sim) == []  # only a lick-port rig is held to it
