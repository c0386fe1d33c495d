"""The emulator's reading of a ``'C'`` body: the firmware's ``loadStateMatrix``, in Python.

Written from the layout table in ``reference/bpod-serial-protocol.md`` section 3.2, not
from the compiler, so that each is a check on the other. Raises :class:`MatrixError` with
the byte offset of the first field that does not fit.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from rig.devices.bpod.hardware import BpodHardware


class MatrixError(ValueError):
    """A ``'C'`` body the firmware could not load."""


@dataclass
class GlobalTimer:
    channel: int  # output index, 254 = none
    on: int
    off: int
    loop: int
    send_events: bool
    duration: int = 0
    onset_delay: int = 0
    loop_interval: int = 0


@dataclass
class StateMatrix:
    n_states: int
    tup: list[int]  # per state: target (own index = not handled)
    inputs: list[dict[int, int]]  # per state: event column -> target
    outputs: list[list[tuple[int, int]]]  # per state: (output index, value)
    timer_start: list[dict[int, int]]  # per state: global timer -> target
    timer_end: list[dict[int, int]]
    counter: list[dict[int, int]]
    condition: list[dict[int, int]]
    timers: list[GlobalTimer]
    counter_events: list[int]
    condition_channels: list[int]
    condition_values: list[int]
    counter_reset: list[int]  # per state: 1-based counter, 0 = none
    trigger: list[int]  # per state: bit mask of timers to start
    cancel: list[int]
    onset_trigger: list[int]  # per timer
    state_timers: list[int]  # cycles
    counter_thresholds: list[int] = field(default_factory=list)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, fmt: str, what: str) -> tuple[int, ...]:
        size = struct.calcsize(fmt)
        if self.at + size > len(self.data):
            raise MatrixError(f"byte {self.at}: the body ends inside {what}")
        values = struct.unpack_from(fmt, self.data, self.at)
        self.at += size
        return values

    def u8(self, what: str) -> int:
        return self.take("<B", what)[0]

    def many(self, fmt: str, n: int, what: str) -> list[int]:
        return list(self.take(f"<{n}{fmt}", what)) if n else []

    def pairs(self, n_states: int, what: str) -> list[dict[int, int]]:
        sections = []
        for state in range(n_states):
            count = self.u8(f"{what} count of state {state}")
            values = self.many("B", 2 * count, f"{what} of state {state}")
            sections.append(dict(zip(values[::2], values[1::2], strict=True)))
        return sections


def load_matrix(body: bytes, hw: BpodHardware) -> StateMatrix:
    r = _Reader(body)
    n, n_gt, n_gc, n_cond = r.take("<BBBB", "the counts")
    if n == 0 or n_gt > hw.global_timers or n_gc > hw.global_counters or n_cond > hw.conditions:
        raise MatrixError(f"byte 0: counts {n}/{n_gt}/{n_gc}/{n_cond} do not fit this machine")
    tup = r.many("B", n, "the Tup targets")
    inputs = r.pairs(n, "input transitions")
    outputs: list[list[tuple[int, int]]] = []
    for state in range(n):
        if hw.wide:
            count = r.take("<H", f"output count of state {state}")[0] & 0xFF
            values = r.many("H", 2 * count, f"outputs of state {state}")
        else:
            count = r.u8(f"output count of state {state}")
            values = r.many("B", 2 * count, f"outputs of state {state}")
        outputs.append(list(zip(values[::2], values[1::2], strict=True)))
    timer_start = r.pairs(n, "timer-start transitions")
    timer_end = r.pairs(n, "timer-end transitions")
    counter = r.pairs(n, "counter transitions")
    condition = r.pairs(n, "condition transitions")
    value = "H" if hw.wide else "B"
    channels = r.many("B", n_gt, "timer channels")
    on = r.many(value, n_gt, "timer on values")
    off = r.many(value, n_gt, "timer off values")
    loop = r.many("B", n_gt, "timer loop modes")
    send = r.many("B", n_gt, "timer send-events flags")
    timers = [
        GlobalTimer(c, o, f, lp, bool(s))
        for c, o, f, lp, s in zip(channels, on, off, loop, send, strict=True)
    ]
    counter_events = r.many("B", n_gc, "counter events")
    condition_channels = r.many("B", n_cond, "condition channels")
    condition_values = r.many("B", n_cond, "condition values")
    if hw.firmware >= 23:
        count = r.u8("counter-reset count")
        resets = [0] * n
        flat = r.many("B", 2 * count, "counter resets")
        for state, counter_index in zip(flat[::2], flat[1::2], strict=True):
            if state >= n:
                raise MatrixError(f"byte {r.at}: counter reset for state {state} of {n}")
            resets[state] = counter_index
        if hw.wide:
            for what in ("threshold enables", "threshold disables"):
                count = r.u8(f"{what} count")
                r.many("B", 2 * count, what)
    else:
        resets = r.many("B", n, "counter resets")
    mask = "B" if hw.global_timers <= 8 else "H" if hw.global_timers <= 16 else "I"
    trigger = r.many(mask, n, "timer trigger masks")
    cancel = r.many(mask, n, "timer cancel masks")
    onset_trigger = r.many(mask, n_gt, "timer onset triggers")
    state_timers = r.many("I", n, "state timers")
    for timers_field in ("duration", "onset_delay", "loop_interval"):
        for timer, cycles in zip(timers, r.many("I", n_gt, f"timer {timers_field}s"), strict=True):
            setattr(timer, timers_field, cycles)
    thresholds = r.many("I", n_gc, "counter thresholds")
    if hw.firmware >= 23:
        while r.u8("the extra-operations flag"):
            r.u8("an extra operation")  # only 'L': module, n messages, (index, length, bytes)
            r.u8("its module")
            for _ in range(r.u8("its message count")):
                r.u8("a message index")
                r.many("B", r.u8("a message length"), "a message")
    if r.at != len(body):
        raise MatrixError(f"byte {r.at}: {len(body) - r.at} bytes left over after the body")
    for state, target in enumerate(tup):
        if target > n:
            raise MatrixError(f"state {state}: Tup goes to state {target} of {n}")
    return StateMatrix(
        n, tup, inputs, outputs, timer_start, timer_end, counter, condition, timers,
        counter_events, condition_channels, condition_values, resets, trigger, cancel,
        onset_trigger, state_timers, thresholds,
    )  # fmt: skip
