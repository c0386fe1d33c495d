"""The state machine of one trial, as data.

A :class:`StateMachine` is a list of states; the first one is where the trial starts.
Each state has a timer (``timer_s``; its end is the ``Tup`` event), transitions on named
input events, and output actions applied on entry. The target ``exit`` ends the trial.

Input events are named after the rig-neutral input channels: ``lick_left`` is the onset of
a lick on the left port and ``lick_left_off`` its offset; likewise ``lick_right``,
``frame_clock``, ``aux``; and ``Tup``.

An output action with ``duration_s`` is a *pulse*: it starts at entry and ends after its
duration whatever the state does (a valve pulse, the go cue). Without ``duration_s`` it is
*held*: on for as long as the machine stays in the state (the pole down during the sample).
``freq_hz`` makes the channel a tone. How the executors time all this is in
:mod:`rig.fsm.executor`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rig.schema.hardware import INPUT_CHANNELS, OUTPUT_CHANNELS

EXIT = "exit"
TUP = "Tup"
INPUT_EVENTS = tuple(e for ch in INPUT_CHANNELS for e in (ch, f"{ch}_off"))
EVENTS = (*INPUT_EVENTS, TUP)


class StateMachineError(Exception):
    """A state machine that cannot run: every problem, one per line.

    Not a ``ValueError`` on purpose: pydantic would fold it into a ``ValidationError``.
    """


class Output(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: str
    value: Annotated[int, Field(ge=0, le=255)] = 1
    duration_s: Annotated[float, Field(gt=0)] | None = None
    freq_hz: Annotated[float, Field(gt=0)] | None = None


class State(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    timer_s: Annotated[float, Field(ge=0)] = 0.0
    transitions: dict[str, str] = {}
    outputs: tuple[Output, ...] = ()

    @field_validator("timer_s")
    @classmethod
    def _positive_zero(cls, value: float) -> float:
        return value + 0.0  # -0.0 -> 0.0, so equal machines hash equal


class StateMachine(BaseModel):
    """One trial's state machine; immutable, hashable by content (:attr:`content_hash`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "trial"
    states: tuple[State, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> StateMachine:
        problems = self.problems()
        if problems:
            raise StateMachineError("\n".join(problems))
        return self

    def problems(self) -> list[str]:
        names = [s.name for s in self.states]
        problems = [
            f"state {n!r} is defined twice" for n in sorted(set(names)) if names.count(n) > 1
        ]
        if EXIT in names:
            problems.append(f"{EXIT!r} is reserved for the end of the trial")
        known = set(names) | {EXIT}
        for s in self.states:
            for event, target in s.transitions.items():
                if event not in EVENTS:
                    problems.append(f"state {s.name!r}: unknown event {event!r}")
                if target not in known:
                    problems.append(f"state {s.name!r}: {event} goes to unknown state {target!r}")
            for out in s.outputs:
                if out.channel not in OUTPUT_CHANNELS:
                    problems.append(f"state {s.name!r}: unknown output channel {out.channel!r}")
        if problems:
            return problems
        forward: dict[str, set[str]] = {s.name: set(s.transitions.values()) for s in self.states}
        backward: dict[str, set[str]] = {}
        for source, targets in forward.items():
            for target in targets:
                backward.setdefault(target, set()).add(source)
        reached = _closure(names[0], forward)
        problems += [f"state {n!r} is unreachable" for n in names if n not in reached]
        if EXIT not in reached:
            problems.append("no state leads to exit")
        else:
            leads_out = _closure(EXIT, backward)
            problems += [
                f"state {n!r} is a dead end: no transition leads from it to exit"
                for n in names
                if n in reached and n not in leads_out
            ]
        return problems

    def __hash__(self) -> int:
        return hash(self.content_hash)

    def state(self, name: str) -> State:
        for s in self.states:
            if s.name == name:
                return s
        raise KeyError(name)

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    @property
    def content_hash(self) -> str:
        """First 16 hex digits of the SHA-256 of the canonical JSON."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:16]

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", exclude_defaults=True), sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str) -> StateMachine:
        return cls.model_validate(yaml.safe_load(text))

    def to_dot(self) -> str:
        """A Graphviz diagram: states as boxes with their timers and outputs."""
        lines = [f'digraph "{self.name}" {{', "  rankdir=LR;", "  node [shape=box];"]
        for s in self.states:
            outs = "\\n".join(_describe(o) for o in s.outputs)
            label = f"{s.name}\\n{s.timer_s:g} s" + (f"\\n{outs}" if outs else "")
            lines.append(f'  "{s.name}" [label="{label}"];')
            for event, target in s.transitions.items():
                lines.append(f'  "{s.name}" -> "{target}" [label="{event}"];')
        lines.append(f'  "{EXIT}" [shape=doublecircle];')
        lines.append("}")
        return "\n".join(lines) + "\n"


def _closure(start: str, edges: dict[str, set[str]]) -> set[str]:
    """Every node reachable from ``start`` along ``edges`` (``start`` included)."""
    seen, todo = {start}, [start]
    while todo:
        for target in edges.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _describe(out: Output) -> str:
    text = f"{out.channel}={out.value}"
    if out.freq_hz is not None:
        text += f" {out.freq_hz:g} Hz"
    if out.duration_s is not None:
        text += f" for {out.duration_s:g} s"
    return text
