"""A :class:`~rig.fsm.model.StateMachine` -> the lick-port board's machine blob.

The blob is the reference executor's own compiled form (:func:`rig.fsm.executor.
compile_machine`: timers and pulse lengths already rounded to its 100 us cycles, self
transitions dropped, ``Tup`` only where handled), laid out flat and little-endian
(``firmware/lickport/PROTOCOL.md``, "Machines"). So the board runs the same machine the
reference runs, not a re-reading of the YAML. What the board cannot run is refused here,
with every reason, before anything is sent.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from rig.devices.lickport.codec import CHANNEL_CODES, EVENT_NAMES
from rig.fsm.executor import CYCLE_US, compile_machine
from rig.fsm.model import StateMachine

EXIT, NONE = 0xFE, 0xFF
MAX_TIMER_US = 1_800_000_000
EVENT_CODES = {name: i for i, name in enumerate(EVENT_NAMES)}


class LickportCompileError(ValueError):
    """The board cannot run this machine; the message names every reason."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What one machine may hold on a board (its ``Hello``)."""

    max_states: int = 20
    max_transitions: int = 32
    max_outputs: int = 16


UNO = Limits()
MEGA = Limits(64, 160, 96)


def compile_blob(machine: StateMachine, limits: Limits = UNO) -> bytes:
    states = compile_machine(machine)
    problems: list[str] = []
    n_transitions = sum(len(s.on_input) for s in states)
    n_outputs = sum(len(s.held) + len(s.pulses) for s in states)
    for what, count, limit in (
        ("states", len(states), limits.max_states),
        ("transitions (Tup aside)", n_transitions, limits.max_transitions),
        ("outputs", n_outputs, limits.max_outputs),
    ):
        if count > limit:
            problems.append(f"{count} {what}; the board holds {limit} per machine")
    state_rows: list[tuple[int, ...]] = []
    transition_rows: list[tuple[int, int]] = []
    output_rows: list[tuple[int, int, int, int]] = []
    for s in states:
        timer_us = 0 if s.timer is None else s.timer * CYCLE_US
        if timer_us > MAX_TIMER_US:
            problems.append(f"state {s.name!r}: a {timer_us / 1e6:g} s timer (at most 1800 s)")
        tup = NONE if s.timer is None else EXIT if s.tup_target == -1 else s.tup_target
        row = (timer_us, tup, len(transition_rows), len(s.on_input), len(output_rows))
        for event, target in s.on_input.items():
            transition_rows.append((EVENT_CODES[event], EXIT if target == -1 else target))
        outputs = [(ch, v, f, 0) for ch, v, f in s.held]
        outputs += [(ch, v, f, cycles * CYCLE_US) for ch, v, f, cycles in s.pulses]
        for channel, value, freq, length_us in outputs:
            if value == 0:
                problems.append(f"state {s.name!r}: {channel} set to 0 (leave it out instead)")
            if freq is not None and not 1 <= round(freq) <= 0xFFFF:
                problems.append(f"state {s.name!r}: {channel} tone of {freq:g} Hz (1-65535)")
            if length_us > MAX_TIMER_US:
                problems.append(f"state {s.name!r}: a {length_us / 1e6:g} s {channel} pulse")
            output_rows.append((CHANNEL_CODES[channel], value, round(freq or 0), length_us))
        state_rows.append((*row, len(outputs)))
    if problems:
        raise LickportCompileError(
            f"machine {machine.name!r} cannot run on the lick-port board:\n  "
            + "\n  ".join(problems)
        )
    blob = bytearray(struct.pack("<4B", len(state_rows), len(transition_rows), len(output_rows), 0))
    for timer_us, tup, first_t, n_t, first_o, n_o in state_rows:
        blob += struct.pack("<I5B", timer_us, tup, first_t, n_t, first_o, n_o)
    for event_code, target in transition_rows:
        blob += struct.pack("<2B", event_code, target)
    for code, value, freq_hz, length_us in output_rows:
        blob += struct.pack("<2BHI", code, value, freq_hz, length_us)
    return bytes(blob)
