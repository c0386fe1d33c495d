"""Compile a :class:`~rig.fsm.model.StateMachine` into a Bpod ``'C'`` message.

Byte layout: ``reference/bpod-serial-protocol.md`` section 3 (firmware 22 and 23; machine
types 2 and 3 with 8-bit outputs, type 4 (2+) with 16-bit outputs and timer values).

How the rig's state machine maps onto the Bpod's:

- input events: the rig-neutral channel (``lick_left``) is mapped by the hardware config to
  a Bpod input (``Port1``); its onset is ``Port1In`` (``BNC1High`` ...), its offset
  ``Port1Out``; ``Tup`` is the state timer;
- held outputs become the state's output actions (on for the state, as on the Bpod);
- pulse outputs (``duration_s``) become global timers triggered on entering the state, with
  the channel as the timer's output, so a valve pulse is timed by the device whatever the
  state does (rule 9 of :mod:`rig.fsm.executor`); one timer per distinct pulse;
- values: ``pole_position`` keeps its value (a PWM level); every other channel is on/off:
  a value > 0 is full on (255 on a PWM line, 1 elsewhere);
- tones: the channel gates an external tone generator; the frequency is the generator's
  setting, not sent to the Bpod;
- channels: every channel of the mapping must be a line this Bpod has (its inputs for
  the rig's inputs, its outputs for the rig's outputs), whether the machine uses it or
  not, so that a wrong hardware config stops the first trial before it is sent; two rig
  inputs on one Bpod input (``shared_inputs``) are one event column: a state may wait for
  both only to go to one place;
- water: each valve's ``max_open_s`` bounds its *Bpod output*: the output actions of every
  rig channel mapped to that output count (:func:`rig.fsm.water.water_problems`).

Timers are whole cycles, rounded half up, at least one (as the executor's table).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass

from rig.devices.bpod.hardware import INPUT_EVENT_NAMES, OUTPUT_NAMES, BpodHardware, HardwareError
from rig.fsm.executor import to_cycles
from rig.fsm.model import EXIT, TUP, Output, StateMachine
from rig.fsm.water import water_problems
from rig.schema.hardware import INPUT_CHANNELS, OUTPUT_CHANNELS

LEVEL_CHANNELS = frozenset({"pole_position"})  # analogue levels; the rest are on/off


class CompileError(ValueError):
    """The machine cannot run on this Bpod (a channel it lacks, too many timers, ...)."""


@dataclass(frozen=True)
class Compiled:
    message: bytes  # the whole 'C' message, header included
    timers: tuple[tuple[str, int, int], ...]  # per global timer: (Bpod output, value, cycles)


def compile_machine(
    machine: StateMachine,
    hardware: BpodHardware,
    channels: Mapping[str, str],
    *,
    run_asap: bool = True,
    max_open_s: Mapping[str, float] | None = None,
) -> Compiled:
    """The ``'C'`` message for ``machine``; ``channels`` maps rig-neutral names to Bpod ones
    (each must be a line of ``hardware``: :func:`channel_problems`). With ``max_open_s``
    (valve -> seconds), a machine that could hold a valve's Bpod output open longer is
    refused (:func:`rig.fsm.water.water_problems`): the Bpod has no limit of its own."""
    problems = channel_problems(hardware, channels)
    problems += water_problems(machine, dict(max_open_s or {}), wiring=channels)
    if problems:
        raise CompileError("; ".join(problems))
    try:
        return _Compiler(machine, hardware, channels).message(run_asap)
    except HardwareError as exc:
        raise CompileError(str(exc)) from None


def channel_problems(hardware: BpodHardware, channels: Mapping[str, str]) -> list[str]:
    """One line per rig channel mapped to a Bpod line ``hardware`` does not have: a rig input
    must be one of its digital inputs (``Port1``, ``BNC1``, ...), a rig output one of its
    output lines (``Valve1``, ``PWM1``, ``BNC1``, ...). Names the hardware config field."""
    inputs = [n for n in hardware.input_names() if n.rstrip("0123456789") in _INPUT_BASES]
    outputs = [n for n in hardware.output_names() if n.rstrip("0123456789") in _OUTPUT_BASES]
    problems = []
    for rig, lines, kind in (
        (INPUT_CHANNELS, inputs, "input"),
        (OUTPUT_CHANNELS, outputs, "output"),
    ):
        for channel in rig:
            bpod = channels.get(channel)
            if bpod is not None and bpod not in lines:
                problems.append(
                    f"{kind} {channel!r} is mapped to {bpod!r}, not an {kind} of this Bpod "
                    f"(hardware config channels.{channel}; its {kind}s: {', '.join(lines)})"
                )
    return problems


_INPUT_BASES = {base for base, _, _ in INPUT_EVENT_NAMES.values()}
_OUTPUT_BASES = {OUTPUT_NAMES[letter] for letter in "FBWPVD"}  # lines, not serial or USB


class _Compiler:
    def __init__(self, machine: StateMachine, hw: BpodHardware, channels: Mapping[str, str]):
        self.machine, self.hw, self.channels = machine, hw, channels
        self.index = {s.name: i for i, s in enumerate(machine.states)}
        self.index[EXIT] = len(machine.states)
        if len(machine.states) > min(hw.max_states, 255):
            raise CompileError(
                f"{len(machine.states)} states; this Bpod runs at most {hw.max_states}"
            )
        self.outputs = hw.output_names()
        self.timers: list[tuple[str, int, int]] = []  # (Bpod output, value, cycles)
        self.events = {name: i for i, name in enumerate(hw.event_names())}

    def message(self, run_asap: bool) -> Compiled:
        body = self.body()
        if len(body) >= 50_000:
            raise CompileError(f"the state machine is {len(body)} bytes; the Bpod takes < 50000")
        header = b"C" + bytes([int(run_asap), 0]) + struct.pack("<H", len(body))
        return Compiled(header + body, tuple(self.timers))

    def body(self) -> bytes:
        hw, states = self.hw, self.machine.states
        n = len(states)
        inputs, outputs, triggers = [], [], []
        for s in states:
            inputs.append(self._pairs(self._input_transitions(s.name, s.transitions)))
            held, pulses = self._outputs(s.outputs)
            outputs.append(self._outputs_section(held))
            triggers.append(sum(1 << t for t in set(pulses)))  # one bit per timer
        n_timers = len(self.timers)
        if n_timers > hw.global_timers:
            raise CompileError(
                f"{n_timers} pulses need global timers; this Bpod has {hw.global_timers}"
            )
        out = bytearray([n, n_timers, 0, 0])
        out += bytes(self._target(s.transitions.get(TUP), i) for i, s in enumerate(states))
        for section in inputs:
            out += section
        for section in outputs:
            out += section
        out += bytes(4 * n)  # global-timer start/end, counter and condition transitions: none
        if n_timers:
            value = "<H" if hw.wide else "<B"
            out += bytes(self.outputs.index(ch) for ch, _, _ in self.timers)
            out += b"".join(struct.pack(value, v) for _, v, _ in self.timers)  # on
            out += b"".join(struct.pack(value, 0) for _ in self.timers)  # off
            out += bytes(n_timers)  # loop mode: one shot
            out += bytes(n_timers)  # send events: no
        out += bytes(n) if hw.firmware < 23 else b"\x00"  # global-counter resets: none
        if hw.wide and hw.firmware >= 23:
            out += b"\x00\x00"  # analogue thresholds enabled / disabled: none
        mask = "<B" if hw.global_timers <= 8 else "<H" if hw.global_timers <= 16 else "<I"
        out += b"".join(struct.pack(mask, t) for t in triggers)
        out += b"".join(struct.pack(mask, 0) for _ in states)  # cancels
        out += b"".join(struct.pack(mask, 0) for _ in self.timers)  # onset triggers
        out += b"".join(struct.pack("<I", to_cycles(s.timer_s)) for s in states)
        if n_timers:
            out += b"".join(struct.pack("<I", c) for _, _, c in self.timers)  # durations
            out += bytes(8 * n_timers)  # onset delays, loop intervals: 0
        if hw.firmware >= 23:
            out += b"\x00"  # no extra operations
        return bytes(out)

    def _target(self, name: str | None, own: int) -> int:
        return own if name is None else self.index[name]

    def _input_transitions(
        self, state: str, transitions: Mapping[str, str]
    ) -> list[tuple[int, int]]:
        pairs: dict[int, tuple[str, int]] = {}  # column -> (event, target)
        for event, target in transitions.items():
            if event == TUP:
                continue
            column = self.events.get(self._bpod_event(event))
            if column is None or column >= self.hw.input_matrix_size:
                raise CompileError(f"event {event!r} is not an input of this Bpod")
            other = pairs.setdefault(column, (event, self.index[target]))
            if other[1] != self.index[target]:  # two rig inputs on one Bpod input
                raise CompileError(
                    f"state {state!r}: {other[0]} and {event} are one Bpod event "
                    f"({self.hw.event_names()[column]}, shared_inputs) but go to different states"
                )
        return sorted((column, target) for column, (_, target) in pairs.items())

    def _bpod_event(self, event: str) -> str:
        channel, offset = (event[:-4], True) if event.endswith("_off") else (event, False)
        bpod = self.channels.get(channel)
        if bpod is None:
            raise CompileError(f"input {channel!r} is not mapped to a Bpod input (channels:)")
        letter = bpod.rstrip("0123456789")
        for base, on, off in INPUT_EVENT_NAMES.values():
            if letter == base:
                return f"{bpod}{off if offset else on}"
        raise CompileError(f"input {channel!r} is mapped to {bpod!r}, not a Bpod input channel")

    def _outputs(self, outputs: tuple[Output, ...]) -> tuple[list[tuple[int, int]], list[int]]:
        held: list[tuple[int, int]] = []
        pulses: list[int] = []
        for out in outputs:
            channel, value, duration = out.channel, out.value, out.duration_s
            bpod = self.channels.get(channel)
            if bpod is None or bpod not in self.outputs:
                raise CompileError(f"output {channel!r} is mapped to {bpod!r}, not an output here")
            level = self._level(channel, bpod, value)
            if duration is None:
                held.append((self.outputs.index(bpod), level))
                continue
            timer = (bpod, level, to_cycles(duration))
            if timer not in self.timers:
                self.timers.append(timer)
            pulses.append(self.timers.index(timer))
        return held, pulses

    @staticmethod
    def _level(channel: str, bpod: str, value: int) -> int:
        if channel in LEVEL_CHANNELS or value == 0:
            return value
        return 255 if bpod.startswith("PWM") else 1

    def _outputs_section(self, held: list[tuple[int, int]]) -> bytes:
        if self.hw.wide:
            return struct.pack("<H", len(held)) + b"".join(
                struct.pack("<HH", i, v) for i, v in held
            )
        return self._pairs(held)

    @staticmethod
    def _pairs(pairs: list[tuple[int, int]]) -> bytes:
        return bytes([len(pairs)]) + b"".join(bytes(p) for p in pairs)
