"""One running state machine inside the emulated Bpod: the firmware's per-cycle work.

Follows ``reference/bpod-serial-protocol.md`` section 4.2: the first-loop tick is cycle 0
and processes no events; each later tick counts the cycle, then collects events in the
firmware's order (queued timer events, conditions, input edges, soft codes, global-timer
events, Tup), reports them in one frame with the cycle count, and takes the first
transition whose target is not the current state, in the same cycle. Global timers drive
their output channel and report start and end events. It writes bytes to ``out`` and
output changes to ``on_output``; it never reads a clock.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from rig.devices.bpod.hardware import BpodHardware
from rig.sim.bpod.matrix import StateMatrix


@dataclass
class _Timer:
    start_at: int  # trial cycle at which it turns on
    end_at: int


@dataclass
class RunningTrial:
    hw: BpodHardware
    matrix: StateMatrix
    out: bytearray
    on_output: Callable[[int, int], None]  # (output index, value)
    levels: list[int]  # logical input levels, shared with the firmware
    enabled: list[bool]
    soft_codes: list[int] = field(default_factory=list)  # '~' codes for this cycle
    cycle: int = 0
    state: int = 0
    entered: int = 0
    ended: bool = False
    outputs: dict[int, int] = field(default_factory=dict)
    _last: list[int] = field(default_factory=list)
    _timers: dict[int, _Timer] = field(default_factory=dict)
    _queued: list[int] = field(default_factory=list)

    # -- cycle 0 ---------------------------------------------------------------------------
    def first_loop(self) -> None:
        self._last = list(self.levels)  # a line already high makes no event
        self._enter(0)

    # -- every later cycle ------------------------------------------------------------------
    def tick(self) -> None:
        self.cycle += 1
        events = self._queued
        self._queued = []
        events += self._conditions()
        events += self._input_edges()
        events += self._soft_codes()
        events += self._timer_events()
        if self._tup_due():
            events.append(self._index_tup)
        events = events[: 100 if self.hw.machine_type >= 3 else 10]
        if not events:
            return
        self.out += bytes([1, len(events), *events]) + struct.pack("<I", self.cycle)
        target = self._target(events)
        if target is None:
            return
        if target == self.matrix.n_states:
            self.end()
        else:
            self._enter(target)

    def end(self) -> None:
        """Exit: every output off, timers cancelled (the caller writes the end report)."""
        for index in list(self.outputs):
            self._set(index, 0)
        self._timers.clear()
        self.ended = True

    # -- events -----------------------------------------------------------------------------
    @property
    def _digital_base(self) -> int:
        return self.hw.max_serial_events

    @property
    def _index_tup(self) -> int:
        hw = self.hw
        return hw.input_matrix_size + 2 * hw.global_timers + hw.global_counters + hw.conditions

    def _conditions(self) -> list[int]:
        m, hw = self.matrix, self.hw
        base = hw.input_matrix_size + 2 * hw.global_timers + hw.global_counters
        events = []
        for i in m.condition[self.state]:  # evaluated only when the state handles them
            channel, value = m.condition_channels[i], m.condition_values[i]
            if channel < len(self.levels):
                level = self.levels[channel]
            else:
                level = int(channel - len(self.levels) in self._timers)
            if level == value:
                events.append(base + i)
        return events

    def _input_edges(self) -> list[int]:
        events = []
        digital = 0
        for i, letter in enumerate(self.hw.inputs):
            if letter in "UXZ":
                continue
            level = self.levels[i]
            if self.enabled[i] and level != self._last[i]:
                events.append(self._digital_base + 2 * digital + (0 if level else 1))
            self._last[i] = level
            digital += 1
        return events

    def _soft_codes(self) -> list[int]:
        hw, events = self.hw, []
        offset = 0
        for letter, slots in zip(hw.serial_inputs, hw.allocation, strict=False):
            if letter == "X":
                events += [offset + c for c in self.soft_codes if c < slots]
            offset += slots
        self.soft_codes = []
        return events

    def _timer_events(self) -> list[int]:
        hw, m, events = self.hw, self.matrix, []
        for i, timer in sorted(self._timers.items()):
            spec = m.timers[i]
            if timer.start_at == self.cycle:  # a timer with an onset delay turns on now
                events.append(hw.input_matrix_size + i)
                self._channel(spec.channel, spec.on)
            if timer.end_at <= self.cycle:
                del self._timers[i]
                events.append(hw.input_matrix_size + hw.global_timers + i)
                self._channel(spec.channel, spec.off)
        return events

    def _tup_due(self) -> bool:
        m = self.matrix
        if m.tup[self.state] == self.state:
            return False
        return self.cycle >= self.entered + max(m.state_timers[self.state], 1)

    def _target(self, events: list[int]) -> int | None:
        m, hw = self.matrix, self.hw
        gt_start, gt_end = hw.input_matrix_size, hw.input_matrix_size + hw.global_timers
        conditions = gt_end + hw.global_timers + hw.global_counters
        for code in events:
            if code < hw.input_matrix_size:
                target = m.inputs[self.state].get(code)
            elif code < gt_end:
                target = m.timer_start[self.state].get(code - gt_start)
            elif code < gt_end + hw.global_timers:
                target = m.timer_end[self.state].get(code - gt_end)
            elif conditions <= code < self._index_tup:
                target = m.condition[self.state].get(code - conditions)
            elif code == self._index_tup:
                target = m.tup[self.state]
            else:
                target = None
            if target is not None and target != self.state:
                return target
        return None

    # -- entering a state -------------------------------------------------------------------
    def _enter(self, state: int) -> None:
        m = self.matrix
        self.state, self.entered = state, self.cycle
        wanted = dict(m.outputs[state])
        timer_channels = {m.timers[i].channel for i in self._timers}
        for index in list(self.outputs):
            if index not in wanted and index not in timer_channels:
                self._set(index, 0)
        soft = []
        for index, value in m.outputs[state]:
            letter = self.hw.outputs[index] if index < len(self.hw.outputs) else ""
            if letter == "X":
                if value > 0:
                    soft.append(value)
            elif letter not in "UZ":
                self._set(index, value)
        for i in range(len(m.timers)):
            if m.cancel[state] >> i & 1 and i in self._timers:
                del self._timers[i]
                self._channel(m.timers[i].channel, m.timers[i].off)
                self._queued.append(self.hw.input_matrix_size + self.hw.global_timers + i)
            if m.trigger[state] >> i & 1:
                self._start_timer(i)
        for code in soft:
            self.out += bytes([2, code])

    def _start_timer(self, i: int) -> None:
        spec = self.matrix.timers[i]
        start = self.cycle + spec.onset_delay
        self._timers[i] = _Timer(start, start + max(spec.duration, 1))
        if spec.onset_delay == 0:
            self._channel(spec.channel, spec.on)
            self._queued.append(self.hw.input_matrix_size + i)  # reported next cycle

    def _channel(self, index: int, value: int) -> None:
        if index < len(self.hw.outputs):
            self._set(index, value)

    def _set(self, index: int, value: int) -> None:
        if self.outputs.get(index, 0) != value:
            self.on_output(index, value)
        if value:
            self.outputs[index] = value
        else:
            self.outputs.pop(index, None)
