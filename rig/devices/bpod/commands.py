"""Host -> Bpod commands, as bytes (``reference/bpod-serial-protocol.md`` sections 2, 5, 6).

Every builder returns the exact bytes to write to USB port 1; none writes anything. The
reply each command gets (if any) is decoded by :class:`rig.devices.bpod.decoder.Decoder`
after the caller tells it what to expect.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

HANDSHAKE = b"6"
FIRMWARE_VERSION = b"F"
MINOR_VERSION = b"f"  # FW >= 23
PCB_REVISION = b"v"  # FW >= 23
TIMESTAMP_SCHEME = b"G"
RESET_CLOCK = b"*"
HARDWARE = b"H"
MODULES = b"M"
RUN = b"R"
FORCE_EXIT = b"X"
DISCONNECT = b"Z"
RESET_MESSAGE_LIBRARY = b">"
FIND_APP_PORT = b"{"  # FW >= 23, machine type >= 3: 222 answers on USB port 2
FIND_ANALOG_PORT = b"}"  # FW >= 23, machine type 4: 223 answers on USB port 3


def _u8(name: str, value: int) -> int:
    if not 0 <= value <= 255:
        raise ValueError(f"{name} must be 0..255, not {value}")
    return value


def event_allocation(slots: Sequence[int]) -> bytes:
    """``'%'``: event slots per serial input channel (U, X, Z), in order."""
    return b"%" + bytes(_u8("slots", s) for s in slots)


def enable_inputs(enabled: Sequence[bool]) -> bytes:
    """``'E'``: one flag per entry of the input description."""
    return b"E" + bytes(int(e) for e in enabled)


def sync_channel(output: int | None, mode: int) -> bytes:
    """``'K'``: the sync line (an output index, None for none) and its mode (0, 1, 2)."""
    return b"K" + bytes([255 if output is None else _u8("output", output), _u8("mode", mode)])


def status_led(on: bool) -> bytes:
    return b":" + bytes([int(on)])


def override(output: int, value: int) -> bytes:
    """``'O'``: drive an output directly (0/1; PWM 0..255)."""
    return b"O" + bytes([_u8("output", output), _u8("value", value)])


def virtual_input(input_index: int, level: int) -> bytes:
    """``'V'``: replace an input's raw reading during a trial."""
    return b"V" + bytes([_u8("input", input_index), _u8("level", level)])


def soft_code(code: int) -> bytes:
    """``'~'``: a USB soft event (0-based code) into the running state machine."""
    return b"~" + bytes([_u8("code", code)])


def echo_soft_code(code: int) -> bytes:
    """``'S'``: the device sends the code back as a soft-code frame."""
    return b"S" + bytes([_u8("code", code)])


def pause(paused: bool) -> bytes:
    """``'$'``: pause (True) or resume a running trial."""
    return b"$" + bytes([0 if paused else 1])


def relay_module(module: int, on: bool) -> bytes:
    return b"J" + bytes([_u8("module", module), int(on)])


def send_to_module(module: int, data: bytes) -> bytes:
    """``'T'``: raw bytes to a module (1-based module number)."""
    return b"T" + bytes([_u8("module", module), _u8("length", len(data))]) + data


def load_messages(module: int, messages: Sequence[tuple[int, bytes]]) -> bytes:
    """``'L'``: the serial-message library of one module (0-based): (index, bytes) pairs."""
    out = b"L" + bytes([_u8("module", module), _u8("messages", len(messages))])
    for index, data in messages:
        out += bytes([_u8("index", index), _u8("length", len(data))]) + data
    return out


def send_message(module: int, index: int) -> bytes:
    """``'U'``: a stored message to a module (1-based module number)."""
    return b"U" + bytes([_u8("module", module), _u8("index", index)])


def read_input(input_index: int) -> bytes:
    return b"I" + bytes([_u8("input", input_index)])


def u16(value: int) -> bytes:
    return struct.pack("<H", value)
