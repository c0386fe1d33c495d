"""How long a state machine can hold a valve open: the compilers' water-safety check.

A pulse (``duration_s``) is timed by the device: it is open that long. A held output is on
while the machine stays in states that hold it; a state is left by its timer only if it has
a ``Tup`` transition, so a state that holds a valve and waits for an input alone, or states
that hold it in a loop, can hold it forever (``inf``).
"""

from __future__ import annotations

import math
from functools import cache

from rig.fsm.model import EXIT, TUP, StateMachine


def longest_open(machine: StateMachine, channel: str) -> float:
    """The longest time ``channel`` can be on in one run of ``machine`` (seconds, or inf)."""
    pulse = max(
        (o.duration_s or 0.0 for s in machine.states for o in s.outputs
         if o.channel == channel and o.value > 0 and o.duration_s is not None),
        default=0.0,
    )  # fmt: skip
    holding = {
        s.name: s
        for s in machine.states
        if any(o.channel == channel and o.value > 0 and o.duration_s is None for o in s.outputs)
    }

    @cache
    def held_from(name: str, path: frozenset[str]) -> float:
        state = holding[name]
        here = state.timer_s if TUP in state.transitions else math.inf
        nexts = [t for t in set(state.transitions.values()) if t in holding and t != EXIT]
        if any(t in path or t == name for t in nexts):
            return math.inf  # a loop of states that all hold it
        return here + max((held_from(t, path | {name}) for t in nexts), default=0.0)

    held = max((held_from(name, frozenset()) for name in holding), default=0.0)
    return max(pulse, held)


def water_problems(machine: StateMachine, max_open_s: dict[str, float]) -> list[str]:
    """One line per valve that ``machine`` could hold open past its maximum."""
    problems = []
    for channel, limit in sorted(max_open_s.items()):
        longest = longest_open(machine, channel)
        if longest > limit + 1e-9:
            how = "with no end but an input" if math.isinf(longest) else f"for {longest:g} s"
            problems.append(
                f"state machine {machine.name!r} can hold {channel} open {how}; "
                f"its maximum is {limit:g} s (hardware config valves.{channel}.max_open_s)"
            )
    return problems
