"""How long a state machine can keep a valve open: the compilers' water-safety check.

The line (a valve, or the device output it is wired to, with every rig channel on that
output) is *on* while the current state holds it (an output without ``duration_s``) or
while a pulse on it runs (``duration_s`` cycles from the entry of the state that started
it; entering that state again restarts it: rule 9 of :mod:`rig.fsm.executor`, and a
re-triggered global timer on the emulated Bpod). Outputs of value 0 only ever turn a line
off and are left out. The reference executor and the emulated Bpod keep a line on no
longer than this (the Bpod may end it sooner: a timer's end turns its output off even
under a held output).

Contract: :func:`longest_open` is never less than the longest continuous opening of the
line in any run of the machine, whatever the inputs do: a state left on an input can be
left in any cycle from the one after its entry up to its timer (with no ``Tup``, in any
cycle at all), loops included (``inf`` when the line can stay on without end: a valve
held until a lick, a pulse re-triggered around a loop faster than it runs out, holding
states in a cycle). Openings that touch (one ends in the cycle the next starts) count as
one. It is exact for the rule above, with one deliberate over-count: a pulse still
running when the trial exits counts to its end (the firmware cuts it at the exit; the
bound does not rely on that).

How: time in device cycles, rounded as the compilers round (:func:`to_cycles`). Entering
state S while the line is on, what decides the rest of the opening is S and ``r``, the
cycles the running pulses still cover (they all started earlier, so their union is one
interval from now). ``value(S, r)`` is the longest the line then stays on. A state left
on an input may be left after ``d`` in ``[1, timer]``: the best ``d`` for a target is a
sliding-window maximum over the target's values. Within one sweep every value needs only
values of smaller ``r``, except entering a state whose own pulse is longer than ``r`` (or
a held state with ``r = 0``), which is that state's value with no cover, taken from the
sweep before; sweeps repeat until those stop changing. That ends because loops are found
first: the line stays on around one exactly when it does leaving each state as soon as
it can (the most cover left), a search for a cycle in a graph with one edge per exit.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from functools import lru_cache

from rig.fsm.executor import CYCLES_PER_S, to_cycles
from rig.fsm.model import EXIT, TUP, StateMachine
from rig.schema.hardware import OUTPUT_CHANNELS


@dataclass(frozen=True, slots=True)
class _Exit:
    target: int  # state index; -1 is the trial's exit
    first: int  # the earliest cycle after entry it can be taken
    last: int | None  # the latest (None: whenever, the state has no Tup)


@dataclass(frozen=True, slots=True)
class _Visit:
    """One state as the line sees it."""

    held: bool  # the state holds the line
    pulse: int  # cycles of the longest pulse on the line it starts (0: none)
    exits: tuple[_Exit, ...]
    stay: int | None  # the longest it can last (its timer; None: until an input)

    @property
    def lowest(self) -> int:
        """The smallest cover ``r`` the line can be on with at entry."""
        return self.pulse or (0 if self.held else 1)


def longest_open(machine: StateMachine, channels: str | Collection[str]) -> float:
    """The longest ``channels`` (one rig channel, or every rig channel on one device
    output) can stay on continuously in one run of ``machine``: seconds, or ``inf``."""
    line = frozenset([channels] if isinstance(channels, str) else channels)
    return _longest_cycles(machine, line) / CYCLES_PER_S


def water_problems(
    machine: StateMachine,
    max_open_s: Mapping[str, float],
    wiring: Mapping[str, str] | None = None,
) -> list[str]:
    """One line per valve that ``machine`` could hold open past its maximum.

    With ``wiring`` (rig channel -> device channel, the hardware config's ``channels``),
    a valve is its device output: every output action on that output counts, whatever rig
    channel it was written for."""
    problems = []
    for valve, limit in sorted(max_open_s.items()):
        line = _line(valve, wiring)
        longest = longest_open(machine, line)
        if longest > limit + 1e-9:
            how = "with no end but an input" if math.isinf(longest) else f"for {longest:g} s"
            problems.append(
                f"state machine {machine.name!r} can hold {_name(valve, line, wiring)} open {how}; "
                f"its maximum is {limit:g} s (hardware config valves.{valve}.max_open_s)"
            )
    return problems


def _name(valve: str, line: frozenset[str], wiring: Mapping[str, str] | None) -> str:
    """The valve, or its device output with the rig channels on it (``Valve1 (pole_drop,
    valve_left)``) when there are others."""
    return valve if line == {valve} else f"{(wiring or {})[valve]} ({', '.join(sorted(line))})"


def _line(valve: str, wiring: Mapping[str, str] | None) -> frozenset[str]:
    """The rig output channels wired to ``valve``'s device output (``valve`` alone
    without a wiring, or when it is not wired)."""
    if wiring is None or valve not in wiring:
        return frozenset([valve])
    output = wiring[valve]
    return frozenset(ch for ch, dev in wiring.items() if dev == output and ch in OUTPUT_CHANNELS)


@lru_cache(maxsize=512)
def _longest_cycles(machine: StateMachine, line: frozenset[str]) -> float:
    visits = _visits(machine, line)
    starts = [i for i, v in enumerate(visits) if v.held or v.pulse]
    if not starts:
        return 0.0
    tops = _cover_at_entry(visits)
    if _stays_on_around_a_loop(visits, tops):
        return math.inf
    nodes = sorted((r, i) for i, r in _nodes(visits, tops))
    entry = dict.fromkeys(starts, 0.0)  # each start's value with no cover, the sweep before
    for _ in range(len(starts) + 2):  # a start's value needs at most every other start's
        after = _sweep(visits, nodes, entry)
        if after == entry:
            return max(after.values())
        entry = after
    return math.inf  # cannot happen once no loop keeps the line on; the safe answer


def _visits(machine: StateMachine, line: frozenset[str]) -> tuple[_Visit, ...]:
    index = {s.name: i for i, s in enumerate(machine.states)}
    index[EXIT] = -1
    visits = []
    for i, s in enumerate(machine.states):
        on = [o for o in s.outputs if o.channel in line and o.value > 0]
        pulses = [to_cycles(o.duration_s) for o in on if o.duration_s is not None]
        targets = {e: index[t] for e, t in s.transitions.items() if index[t] != i}
        tup = targets.pop(TUP, None)
        stay = None if tup is None else to_cycles(s.timer_s)
        exits = {(t, 1, stay) for t in targets.values()}  # an input: any cycle until Tup
        if tup is not None and stay is not None:
            exits.add((tup, stay, stay))
        visits.append(
            _Visit(
                held=any(o.duration_s is None for o in on),
                pulse=max(pulses, default=0),
                exits=tuple(_Exit(*e) for e in sorted(exits, key=lambda e: (e[0], e[1]))),
                stay=stay,
            )
        )
    return tuple(visits)


def _cover_at_entry(visits: tuple[_Visit, ...]) -> dict[int, int]:
    """For each state the line can be on at the entry of: the most cover it can have
    then (its own pulse included). An upper bound: only these values are computed."""
    top = {i: v.pulse for i, v in enumerate(visits) if v.held or v.pulse}
    todo = list(top)
    while todo:
        i = todo.pop()
        visit, most = visits[i], top[i]
        for e in visit.exits:
            if e.target < 0 or (not visit.held and most < e.first):
                continue
            nxt = visits[e.target]
            cover = max(most - e.first, 0, nxt.pulse)
            if (cover or nxt.held) and top.get(e.target, -1) < cover:
                top[e.target] = cover
                todo.append(e.target)
    return top


def _nodes(visits: tuple[_Visit, ...], tops: Mapping[int, int]) -> list[tuple[int, int]]:
    """Every (state, cover at entry) the line can be on at."""
    return [(i, r) for i, top in tops.items() for r in range(visits[i].lowest, top + 1)]


def _stays_on_around_a_loop(visits: tuple[_Visit, ...], tops: Mapping[int, int]) -> bool:
    """Whether the line can stay on without end: a state holds it until an input, or a
    cycle of (state, cover) leaving each state as early as it can (the most cover left:
    any loop the line stays on around is one of these, or a longer stay of one)."""
    if any(visits[i].held and visits[i].stay is None for i in tops):
        return True
    done: set[tuple[int, int]] = set()
    for start in _nodes(visits, tops):
        path, on_path = [(start, iter(_soonest_next(visits, *start)))], {start}
        while path:
            node, successors = path[-1]
            nxt = next(successors, None)
            if nxt is None:
                done.add(node)
                on_path.discard(node)
                path.pop()
            elif nxt in on_path:
                return True
            elif nxt not in done:
                path.append((nxt, iter(_soonest_next(visits, *nxt))))
                on_path.add(nxt)
    return False


def _soonest_next(visits: tuple[_Visit, ...], i: int, r: int) -> list[tuple[int, int]]:
    """The (state, cover) the line is on at when leaving state ``i`` (entered with cover
    ``r``) by each exit as soon as it can."""
    visit, nexts = visits[i], []
    for e in visit.exits:
        if e.target >= 0 and (visit.held or r >= e.first):
            cover = max(r - e.first, 0, visits[e.target].pulse)
            if cover or visits[e.target].held:
                nexts.append((e.target, cover))
    return nexts


class _Window:
    """The largest ``f(u)`` over a window of ``u`` whose both ends only move up."""

    def __init__(self, f: Callable[[int], float]) -> None:
        self.f = f
        self.items: deque[tuple[int, float]] = deque()  # (u, f(u)), f decreasing
        self.next: int | None = None

    def largest(self, low: int, high: int) -> float:
        for u in range(low if self.next is None else max(self.next, low), high + 1):
            value = self.f(u)
            while self.items and self.items[-1][1] <= value:
                self.items.pop()
            self.items.append((u, value))
        self.next = max(self.next or 0, high + 1)
        while self.items[0][0] < low:
            self.items.popleft()
        return self.items[0][1]


def _sweep(
    visits: tuple[_Visit, ...], nodes: list[tuple[int, int]], entry: Mapping[int, float]
) -> dict[int, float]:
    """One pass over every (r, state) in increasing r; the new value(S, 0) of each start."""
    value: dict[tuple[int, int], float] = {}

    def enter(t: int, u: int, before: bool = False) -> float:
        """How long the line stays on from entering ``t`` with cover ``u`` (``before``:
        from the sweep before, for ``u`` not below the level being computed)."""
        if t < 0:
            return float(u)  # the trial's exit; a running pulse counted to its end
        visit = visits[t]
        if u < visit.pulse or before:
            return entry.get(t, 0.0)
        if u == 0 and not visit.held:
            return 0.0
        return value[(t, u)]

    windows: dict[tuple[int, int], _Window] = {}

    def window(i: int, k: int) -> _Window:
        if (i, k) not in windows:
            t = visits[i].exits[k].target
            windows[(i, k)] = _Window(lambda u: enter(t, u) - u)
        return windows[(i, k)]

    for r, i in nodes:
        value[(i, r)] = _value(visits[i], i, r, window, enter)
    return {i: value[(i, visits[i].lowest)] for i in entry}


def _value(
    visit: _Visit,
    i: int,
    r: int,
    window: Callable[[int, int], _Window],
    enter: Callable[[int, int, bool], float],
) -> float:
    """value(S, r): the longest the line stays on from entering S with cover ``r``."""
    if visit.held and visit.stay is None:
        return math.inf  # held until an input
    best = float(r) if not visit.held and (visit.stay is None or visit.stay > r) else 0.0
    for k, e in enumerate(visit.exits):
        if r >= e.first:  # left after d <= r cycles: the cover r - d goes on
            low = 0 if e.last is None else max(r - e.last, 0)
            best = max(best, r + window(i, k).largest(low, r - e.first))
        if visit.held and e.last is not None and e.last >= r:  # held past the cover
            best = max(best, e.last + enter(e.target, 0, r == 0))
    return best
