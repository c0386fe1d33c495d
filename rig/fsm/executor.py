"""The reference executor: runs state machines on virtual time, one 100 us cycle at a time.

It is pure: it never reads a clock or sleeps. The caller passes the device cycle (an int,
counting 100 us cycles since the device clock started) and the input edges seen at that
cycle; the executor returns what happened and tells, through :meth:`next_deadline`, the
next cycle at which something will happen if no input arrives. Between deadlines and
edges nothing changes, so a 10 s trial takes a few dozen calls, not 100,000.

Timing semantics. These follow the Bpod State Machine firmware (``reference/
bpod-serial-protocol.md`` section 4.2). The table is the contract: the Bpod and lick-port
executors (later issues) are to be held to it by the same tests
(``tests/unit/test_executor.py`` names each test after its row).

====  ==========================  ==========================================================
 #    question                    rule
====  ==========================  ==========================================================
 1    clock                       one cycle = 100 us; device time = cycle x 100 us
 2    trial start                 the first state is entered at the trial's cycle 0 and its
                                  outputs are applied then; cycle 0 processes no events
 3    input edges                 an edge at device time t is seen at cycle ceil(t / 100 us);
                                  two edges of one line inside one cycle cancel (the line
                                  is sampled once per cycle); edges seen at a trial's
                                  cycle 0 or while idle change the level but make no event
 4    state timer                 ``Tup`` comes max(round(timer_s / 100 us), 1) cycles after
                                  entry (a 0 s state lasts one cycle), and only if the
                                  state has a ``Tup`` transition
 5    one cycle, several events   all are recorded, inputs in channel order (lick_left,
                                  lick_right, frame_clock, aux), then ``Tup``; the first
                                  whose target is not the current state wins; at most one
                                  transition per cycle
 6    transition time             the new state is entered in the same cycle as the event
                                  that caused it; its outputs apply in that cycle
 7    self transitions            an event whose target is the current state does nothing
                                  (the timer is not restarted; restart through another state)
 8    held outputs at exit        switched off at exit, unless the new state holds the same
                                  channel (then it changes value without a gap)
 9    pulse outputs               on at entry, off max(round(duration_s / 100 us), 1) cycles
                                  later whatever the state does; re-entry restarts the pulse
10    unhandled events            recorded, no transition (``Tup`` only when handled)
11    exit                        target ``exit`` ends the trial in that cycle; every output
                                  (held and pulse) goes off in that cycle
12    queued trial                a machine loaded while a trial runs starts at the cycle
                                  after the exit (dead time: one cycle); loaded while idle,
                                  it starts at the cycle the caller starts it
====  ==========================  ==========================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from rig.fsm.model import EXIT, TUP, StateMachine
from rig.schema.hardware import INPUT_CHANNELS

CYCLE_S = 1e-4
CYCLES_PER_S = 10_000
CYCLE_US = 100
CHANNEL_ORDER = {ch: i for i, ch in enumerate(INPUT_CHANNELS)}

RecordKind = Literal["trial_start", "state", "input", "output", "trial_end"]


def to_cycles(seconds: float) -> int:
    """Seconds to whole cycles, halves rounded up (as the Bpod's MATLAB host's
    ``uint32(seconds * 10000)``), at least 1."""
    return max(math.floor(seconds * CYCLES_PER_S + 0.5), 1)


@dataclass(frozen=True, slots=True)
class Record:
    """One thing that happened on the device, at an absolute device cycle."""

    kind: RecordKind
    trial: int
    cycle: int
    name: str = ""  # state name, event name or output channel
    value: int = 0  # output value (0 = off)
    freq_hz: float | None = None


@dataclass(frozen=True, slots=True)
class _CompiledState:
    name: str
    timer: int | None  # cycles; None when Tup is not handled
    tup_target: int  # index, -1 for exit
    on_input: dict[str, int]  # event -> target index (-1 exit); self targets left out
    held: tuple[tuple[str, int, float | None], ...]
    pulses: tuple[tuple[str, int, float | None, int], ...]


def compile_machine(machine: StateMachine) -> tuple[_CompiledState, ...]:
    index = {s.name: i for i, s in enumerate(machine.states)}
    index[EXIT] = -1
    compiled = []
    for i, s in enumerate(machine.states):
        targets = {e: index[t] for e, t in s.transitions.items() if index[t] != i}
        tup = targets.pop(TUP, None)
        held = tuple((o.channel, o.value, o.freq_hz) for o in s.outputs if o.duration_s is None)
        pulses = tuple(
            (o.channel, o.value, o.freq_hz, to_cycles(o.duration_s))
            for o in s.outputs
            if o.duration_s is not None
        )
        timer = to_cycles(s.timer_s) if tup is not None else None
        compiled.append(
            _CompiledState(s.name, timer, -2 if tup is None else tup, targets, held, pulses)
        )
    return tuple(compiled)


class ReferenceExecutor:
    """Runs one trial at a time, with one more queued (see the table in the module doc)."""

    def __init__(self) -> None:
        self._states: tuple[_CompiledState, ...] = ()
        self._pending: tuple[int, tuple[_CompiledState, ...]] | None = None
        self._pending_at: int | None = None
        self.trial = 0
        self.running = False
        self._state = 0
        self._entered = 0
        self._trial_start = 0
        self._held: dict[str, tuple[int, float | None]] = {}  # channel -> (value, freq)
        self._pulse_ends: dict[str, int] = {}
        self._last_cycle = -1
        # The same machine object is compiled once (the planner reuses equal trials' machines).
        self._compiled: dict[int, tuple[StateMachine, tuple[_CompiledState, ...]]] = {}

    @property
    def idle(self) -> bool:
        return not self.running and self._pending is None

    @property
    def has_queued(self) -> bool:
        return self._pending is not None

    @property
    def trial_start_cycle(self) -> int:
        return self._trial_start

    @property
    def last_cycle(self) -> int:
        return self._last_cycle

    @property
    def current_state(self) -> str | None:
        return self._states[self._state].name if self.running else None

    def load(self, machine: StateMachine, trial: int) -> None:
        """Queue a machine; it starts after the running trial, or when :meth:`start` is called."""
        if self._pending is not None:
            raise RuntimeError(f"trial {self._pending[0]} is already queued")
        compiled = self._compiled.get(id(machine))
        if compiled is None or compiled[0] is not machine:
            if len(self._compiled) > 64:
                self._compiled.clear()
            compiled = self._compiled[id(machine)] = (machine, compile_machine(machine))
        self._pending = (trial, compiled[1])
        if not self.running:
            self._pending_at = None

    def start(self, cycle: int) -> None:
        """Start the queued machine at ``cycle`` (the device was idle); tick that cycle."""
        if self.running or self._pending is None:
            raise RuntimeError("start() needs an idle executor with a queued machine")
        if cycle <= self._last_cycle:
            raise ValueError(f"cycle {cycle} is not after the last cycle {self._last_cycle}")
        self._pending_at = cycle

    def next_deadline(self) -> int | None:
        if not self.running:
            return self._pending_at if self._pending is not None else None
        st = self._states[self._state]
        deadline = None if st.timer is None else self._entered + st.timer
        for end in self._pulse_ends.values():
            if deadline is None or end < deadline:
                deadline = end
        return deadline

    def tick(
        self, cycle: int, edges: tuple[tuple[str, int], ...] | list[tuple[str, int]]
    ) -> list[Record]:
        """Process one cycle: the input edges seen at it as (channel, new level).

        The caller must not skip a deadline (a timer or pulse end would come late)."""
        if cycle <= self._last_cycle:
            raise ValueError(f"cycle {cycle} is not after the last cycle {self._last_cycle}")
        deadline = self.next_deadline()
        if deadline is not None and cycle > deadline:
            raise ValueError(f"cycle {cycle} skips the deadline at cycle {deadline}")
        self._last_cycle = cycle
        out: list[Record] = []
        if not self.running:
            if (
                self._pending is not None
                and self._pending_at is not None
                and cycle >= self._pending_at
            ):
                self._begin(cycle, out)
            return out
        trial = self.trial
        for channel in [c for c, end in self._pulse_ends.items() if end <= cycle]:
            del self._pulse_ends[channel]
            if channel not in self._held:
                out.append(Record("output", trial, cycle, channel, 0))
        st = self._states[self._state]
        target = -2
        if len(edges) > 1:
            edges = sorted(edges, key=lambda e: CHANNEL_ORDER[e[0]])
        for channel, level in edges:
            event = channel if level else f"{channel}_off"
            out.append(Record("input", trial, cycle, event))
            if target == -2:
                target = st.on_input.get(event, -2)
        if st.timer is not None and cycle >= self._entered + st.timer:
            out.append(Record("input", trial, cycle, TUP))
            if target == -2:
                target = st.tup_target
        if target == -1:
            self._end(cycle, out)
        elif target >= 0:
            self._enter(target, cycle, out)
        return out

    def force_exit(self, cycle: int) -> list[Record]:
        """End the running trial at ``cycle`` (the operator's abort; Bpod's ``'X'``); a
        queued machine then starts in the next cycle, as after a normal exit, unless
        :meth:`cancel_queued` dropped it."""
        if not self.running:
            return []
        if cycle <= self._last_cycle:
            raise ValueError(f"cycle {cycle} is not after the last cycle {self._last_cycle}")
        self._last_cycle = cycle
        out: list[Record] = []
        self._end(cycle, out)
        return out

    def cancel_queued(self) -> int | None:
        """Drop the queued machine (it never starts); its trial number, or None."""
        if self._pending is None:
            return None
        trial = self._pending[0]
        self._pending = self._pending_at = None
        return trial

    def _begin(self, cycle: int, out: list[Record]) -> None:
        assert self._pending is not None
        self.trial, self._states = self._pending
        self._pending = self._pending_at = None
        self.running = True
        self._trial_start = cycle
        out.append(Record("trial_start", self.trial, cycle))
        self._enter(0, cycle, out)

    def _enter(self, index: int, cycle: int, out: list[Record]) -> None:
        new = self._states[index]
        old_held, new_held = self._held, {ch: (v, f) for ch, v, f in new.held}
        for ch in old_held:
            if ch not in new_held and ch not in self._pulse_ends:
                out.append(Record("output", self.trial, cycle, ch, 0))
        self._held = new_held
        self._state, self._entered = index, cycle
        out.append(Record("state", self.trial, cycle, new.name))
        for ch, value, freq in new.held:
            if old_held.get(ch) != (value, freq):
                out.append(Record("output", self.trial, cycle, ch, value, freq))
        for ch, value, freq, length in new.pulses:
            self._pulse_ends[ch] = cycle + length
            out.append(Record("output", self.trial, cycle, ch, value, freq))

    def _end(self, cycle: int, out: list[Record]) -> None:
        for ch in sorted(set(self._held) | set(self._pulse_ends)):
            out.append(Record("output", self.trial, cycle, ch, 0))
        self._held, self._pulse_ends = {}, {}
        self.running = False
        out.append(Record("trial_end", self.trial, cycle))
        if self._pending is not None:
            self._pending_at = cycle + 1
