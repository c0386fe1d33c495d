"""What a Bpod State Machine says it is, and the names and indices that follow from it.

The ``'H'`` reply describes the machine: limits, and one type letter per input and output
channel (``U`` module UART, ``X`` USB soft codes, ``Z`` USB app port, ``F`` FlexIO, ``B`` BNC,
``W`` wire, ``P`` behaviour port, ``V`` valve). Together with the firmware version, the
machine type and the ``'%'`` event allocation, it fixes every event and output index used
in a ``'C'`` state machine (``reference/bpod-serial-protocol.md`` sections 2.3-2.5 and 7).
Names follow Sanworks' MATLAB host: ``Port1In``, ``BNC1High``, ``GlobalTimer1_End``,
``Tup``; ``PWM1``, ``BNC1``, ``Valve1``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

SERIAL_TYPES = "UXZ"
# digital input type letter -> (name, onset suffix, offset suffix)
INPUT_EVENT_NAMES = {
    "P": ("Port", "In", "Out"),
    "B": ("BNC", "High", "Low"),
    "W": ("Wire", "High", "Low"),
    "F": ("Flex", "High", "Low"),
    "D": ("Digital", "High", "Low"),
}
OUTPUT_NAMES = {
    "U": "Serial",
    "X": "SoftCode",
    "Z": "APP_SoftCode",
    "F": "Flex",
    "B": "BNC",
    "W": "Wire",
    "P": "PWM",
    "V": "Valve",
    "D": "Digital",
}


class HardwareError(ValueError):
    """A hardware description that cannot be parsed or used."""


@dataclass(frozen=True)
class BpodHardware:
    """One machine's description (``'F'`` + ``'H'``) and its ``'%'`` event allocation."""

    firmware: int  # major version: 22 or 23
    machine_type: int  # 1..4
    max_states: int
    cycle_us: int
    max_serial_events: int
    max_bytes_per_message: int
    global_timers: int
    global_counters: int
    conditions: int
    inputs: str  # type letters
    outputs: str
    allocation: tuple[int, ...] = field(default=())  # '%' slots per serial input channel

    # -- the 'H' reply ----------------------------------------------------------------------
    @classmethod
    def from_h_reply(cls, data: bytes, firmware: int, machine_type: int) -> BpodHardware:
        """Parse a complete ``'H'`` reply (raises :class:`HardwareError` if it is not one)."""
        try:
            max_states, cycle_us, max_events = struct.unpack_from("<HHB", data, 0)
            at = 5
            msg_bytes = 3
            if firmware >= 23:
                msg_bytes = data[at]
                at += 1
            if len(data) < at + 4:
                raise IndexError("the limits")
            timers, counters, conditions, n_in = data[at : at + 4]
            at += 4
            inputs = data[at : at + n_in].decode("ascii")
            at += n_in
            n_out = data[at]
            outputs = data[at + 1 : at + 1 + n_out].decode("ascii")
            at += 1 + n_out
        except (struct.error, IndexError, UnicodeDecodeError) as exc:
            raise HardwareError(f"'H' reply cut short or not ASCII: {exc}") from None
        if at != len(data) or len(inputs) != n_in or len(outputs) != n_out:
            raise HardwareError(f"'H' reply is {len(data)} bytes, its own fields say {at}")
        return cls(
            firmware, machine_type, max_states, cycle_us, max_events, msg_bytes,
            timers, counters, conditions, inputs, outputs,
        )  # fmt: skip

    def h_reply(self) -> bytes:
        """The ``'H'`` reply this machine sends (the emulator's side)."""
        head = struct.pack("<HHB", self.max_states, self.cycle_us, self.max_serial_events)
        if self.firmware >= 23:
            head += bytes([self.max_bytes_per_message])
        body = bytes([self.global_timers, self.global_counters, self.conditions])
        body += bytes([len(self.inputs)]) + self.inputs.encode()
        body += bytes([len(self.outputs)]) + self.outputs.encode()
        return head + body

    # -- event allocation ('%') ---------------------------------------------------------------
    @property
    def serial_inputs(self) -> str:
        return "".join(t for t in self.inputs if t in SERIAL_TYPES)

    @property
    def digital_inputs(self) -> str:
        return "".join(t for t in self.inputs if t not in SERIAL_TYPES)

    def default_allocation(self) -> tuple[int, ...]:
        """Sanworks' MATLAB allocation: an equal share per serial channel (15 on every
        current machine); what is left over is unused."""
        channels = len(self.serial_inputs)
        share = self.max_serial_events // channels if channels else 0
        return tuple(share for _ in range(channels))

    def with_allocation(self, allocation: tuple[int, ...]) -> BpodHardware:
        if len(allocation) != len(self.serial_inputs) or sum(allocation) > self.max_serial_events:
            raise HardwareError(
                f"allocation {allocation} does not fit {len(self.serial_inputs)} serial channels "
                f"and {self.max_serial_events} slots"
            )
        return BpodHardware(**{**self.__dict__, "allocation": allocation})

    # -- indices ----------------------------------------------------------------------------
    @property
    def input_matrix_size(self) -> int:
        return self.max_serial_events + 2 * len(self.digital_inputs)

    @property
    def wide(self) -> bool:
        """Machine type 4 (2+) sends 16-bit outputs and global-timer values."""
        return self.machine_type >= 4

    def event_names(self) -> list[str]:
        """Every event name, at its index (the names Sanworks' MATLAB host uses)."""
        names = [f"_unused{i}" for i in range(self.max_serial_events)]
        slot = 0
        counters: dict[str, int] = {}
        for letter, count in zip(self.serial_inputs, self.allocation, strict=False):
            counters[letter] = counters.get(letter, 0) + 1
            for b in range(count):
                if letter == "U":
                    names[slot + b] = f"Serial{counters[letter]}_{b + 1}"
                elif letter == "X":
                    names[slot + b] = f"SoftCode{b + 1}"
                else:
                    names[slot + b] = f"APP_SoftCode{b}"
            slot += count
        numbers: dict[str, int] = {}
        for letter in self.digital_inputs:
            base, on, off = INPUT_EVENT_NAMES.get(letter, (f"Input{letter}", "High", "Low"))
            numbers[base] = numbers.get(base, 0) + 1
            names += [f"{base}{numbers[base]}{on}", f"{base}{numbers[base]}{off}"]
        names += [f"GlobalTimer{i + 1}_Start" for i in range(self.global_timers)]
        names += [f"GlobalTimer{i + 1}_End" for i in range(self.global_timers)]
        names += [f"GlobalCounter{i + 1}_End" for i in range(self.global_counters)]
        names += [f"Condition{i + 1}" for i in range(self.conditions)]
        names.append("Tup")
        return names

    def event_index(self, name: str) -> int:
        return _index(self.event_names(), name, "event")

    def output_names(self) -> list[str]:
        names = []
        numbers: dict[str, int] = {}
        for letter in self.outputs:
            base = OUTPUT_NAMES.get(letter, f"Output{letter}")
            if letter in "XZ":
                names.append(base)
                continue
            numbers[base] = numbers.get(base, 0) + 1
            names.append(f"{base}{numbers[base]}")
        return names

    def output_index(self, name: str) -> int:
        return _index(self.output_names(), name, "output")

    def input_names(self) -> list[str]:
        """Each input's name, in the input description's order (``Serial1``, ``Port1``)."""
        numbers: dict[str, int] = {}
        names = []
        for letter in self.inputs:
            base = (
                INPUT_EVENT_NAMES[letter][0]
                if letter in INPUT_EVENT_NAMES
                else OUTPUT_NAMES[letter]
            )
            numbers[base] = numbers.get(base, 0) + 1
            names.append(f"{base}{numbers[base]}")
        return names

    def input_index(self, name: str) -> int:
        """Index of ``Port1``, ``BNC2``, ... in the input description (for ``'E'`` and ``'V'``)."""
        return _index(self.input_names(), name, "input")


def _index(names: list[str], name: str, kind: str) -> int:
    try:
        return names.index(name)
    except ValueError:
        raise HardwareError(f"this Bpod has no {kind} {name!r}") from None


def _profile(firmware: int, mt: int, states: int, events: int, msg: int, gt: int, gc: int,
             cond: int, inputs: str, outputs: str) -> BpodHardware:  # fmt: skip
    hw = BpodHardware(firmware, mt, states, 100, events, msg, gt, gc, cond, inputs, outputs)
    return hw.with_allocation(hw.default_allocation())


# The machines of reference section 2.4 (Sanworks' preconfigured firmware).
PROFILES: dict[str, BpodHardware] = {
    "r2-fw22": _profile(22, 3, 256, 90, 3, 16, 8, 16, "UUUUUXBBPPPP", "UUUUUXBBPPPPVVVV"),
    "r2-fw23": _profile(23, 3, 256, 105, 5, 16, 8, 16, "UUUUUXZBBPPPP", "UUUUUXZBBPPPPVVVV"),
    "2plus-fw23": _profile(
        23, 4, 256, 75, 5, 16, 8, 16, "UUUXZFFFFBBPPPPP", "UUUXZFFFFBBPPPPPVVVVV"
    ),
    "r1-fw22": _profile(
        22, 2, 256, 60, 3, 5, 5, 5, "UUUXBBWWPPPPPPPP", "UUUXBBWWWPPPPPPPPVVVVVVVV"
    ),
}
