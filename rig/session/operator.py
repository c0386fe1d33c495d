"""The operator's commands to a running session: checked when they arrive, applied by the runner.

The GUI (through the controller, :mod:`rig.control`) puts commands in an :class:`Inbox`; the
runner takes them between device events and never waits for one while trials run. What
each command does, and when it takes effect:

- ``pause``: no new trial is queued (the running one, and the next if it is already on the
  device, run to their end); ``resume`` queues the next trial at once;
- ``stop``: end the session after the trial(s) on the device; ``abort``: end the running
  trial now (the device's force-exit) and the session with it;
- ``drop`` (``side``): one drop of the protocol's reward volume at the calibrated open time;
  ``flush`` (``side`` left/right/both, ``seconds``): hold the valve(s) open. Both run on the
  device as a small state machine of their own between two trials (at once when the device
  is idle), never inside a trial;
- ``switch`` (``reason``, optional ``to_step``): the curriculum's next step (or that step)
  from the next trial that is planned;
- ``set`` (``path``, ``value``): change one protocol parameter from the next planned trial;
- ``note`` (``text``): a timestamped note.

Every command applied is published as :class:`rig.bus.OperatorActed` and recorded in
``operator.jsonl``.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from rig.fsm.model import Output, State, StateMachine
from rig.schema.hardware import VALVE_FOR_SIDE, HardwareConfig
from rig.schema.protocol import Protocol

ACTIONS = ("pause", "resume", "stop", "abort", "drop", "flush", "switch", "set", "note")
# Protocol sections an operator may change during a session (contexts and the curriculum
# change only between sessions: they define what the trials mean).
EDITABLE = ("epochs", "reward", "early_lick", "free_drop", "trial_selection", "stimuli")
MAX_FLUSH_S = 10.0


class OperatorError(ValueError):
    """A command that cannot be applied; the message names the field."""


@dataclass(frozen=True)
class OperatorCommand:
    action: str
    args: dict[str, Any] = field(default_factory=dict)


def check_command(action: str, args: dict[str, Any]) -> OperatorCommand:
    """The command, if its arguments are complete and sensible; else :class:`OperatorError`."""
    if action not in ACTIONS:
        raise OperatorError(f"unknown command {action!r}; known: {', '.join(ACTIONS)}")
    if action == "drop" and args.get("side") not in ("left", "right"):
        raise OperatorError(f"drop: side must be left or right, not {args.get('side')!r}")
    if action == "flush":
        if args.get("side") not in ("left", "right", "both"):
            raise OperatorError(
                f"flush: side must be left, right or both, not {args.get('side')!r}"
            )
        seconds = args.get("seconds")
        if not isinstance(seconds, int | float) or not 0 < seconds <= MAX_FLUSH_S:
            raise OperatorError(f"flush: seconds must be in (0, {MAX_FLUSH_S}], not {seconds!r}")
    if action == "switch":
        if not str(args.get("reason", "")).strip():
            raise OperatorError("switch: a reason is required")
        to_step = args.get("to_step")
        if to_step is not None and (not isinstance(to_step, int) or to_step < 0):
            raise OperatorError(f"switch: to_step must be a step number, not {to_step!r}")
    if action == "set":
        path = args.get("path")
        if not isinstance(path, str) or path.split(".")[0] not in EDITABLE or "." not in path:
            raise OperatorError(
                f"set: path {path!r} is not editable during a session; "
                f"editable: {', '.join(s + '.*' for s in EDITABLE)}"
            )
        if "value" not in args:
            raise OperatorError(f"set {path}: a value is required")
    if action == "note" and not str(args.get("text", "")).strip():
        raise OperatorError("note: the text is empty")
    return OperatorCommand(action, dict(args))


def check_step(to_step: int | None, steps: int) -> None:
    """A switch's ``to_step``, if the curriculum (of ``steps`` steps) has it."""
    if to_step is not None and not 0 <= to_step < steps:
        raise OperatorError(f"switch: curriculum step {to_step} does not exist (0 to {steps - 1})")


def edited_protocol(protocol: Protocol, path: str, value: Any) -> tuple[Protocol, Any]:
    """The protocol with ``path`` set to ``value`` (re-validated), and the old value."""
    data = protocol.model_dump(mode="json")
    node: Any = data
    *parents, leaf = path.split(".")
    for key in parents:
        if not isinstance(node, dict) or key not in node:
            raise OperatorError(f"set {path}: the protocol has no field {key!r}")
        node = node[key]
    if not isinstance(node, dict) or leaf not in node:
        raise OperatorError(f"set {path}: the protocol has no field {leaf!r}")
    old, node[leaf] = node[leaf], value
    try:
        return Protocol.model_validate(data), old
    except ValidationError as exc:
        first = exc.errors()[0]
        raise OperatorError(f"set {path} = {value!r}: {first['msg']}") from None


def edits_in(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``set`` lines of ``operator.jsonl`` that were applied, by their first trial."""
    applied = [x for x in lines if x.get("action") == "set" and "refused" not in x]
    return sorted(applied, key=lambda x: int(x["applies_from"]))


def with_edits(protocol: Protocol, edits: list[dict[str, Any]]) -> Protocol:
    """``protocol`` with the edits of :func:`edits_in` applied in order, as the session did
    (an edit it refused cannot be in them; one that no longer validates is skipped)."""
    for edit in edits:
        with suppress(OperatorError):
            protocol, _ = edited_protocol(protocol, edit["args"]["path"], edit["args"]["value"])
    return protocol


def _valves_open(name: str, state: str, seconds: float, sides: tuple[str, ...]) -> StateMachine:
    """One state: the valve(s) of ``sides`` open for ``seconds`` (timed on the device)."""
    outputs = tuple(Output(channel=VALVE_FOR_SIDE[s]) for s in sides)
    return StateMachine(
        name=name,
        states=(State(name=state, timer_s=seconds, transitions={"Tup": "exit"}, outputs=outputs),),
    )


def drop_machine(
    hardware: HardwareConfig, side: str, volume_ul: float, beyond_points: bool = False
) -> StateMachine:
    open_s = round(hardware.valve(side).open_time_s(volume_ul, beyond_points=beyond_points), 4)
    return _valves_open(f"hand_drop_{side}", "HandDrop", open_s, (side,))


def flush_machine(side: str, seconds: float) -> StateMachine:
    sides = ("left", "right") if side == "both" else (side,)
    return _valves_open(f"flush_{side}", "ValveFlush", seconds, sides)


class Inbox:
    """Commands from any thread to the runner's thread."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[OperatorCommand] = queue.SimpleQueue()
        self._closed = False
        self.on_put: Callable[[], None] | None = None  # the runner's: wake the device's poll

    def put(self, command: OperatorCommand) -> None:
        if self._closed:
            raise OperatorError(f"{command.action}: the session has ended")
        self._queue.put(command)
        if self.on_put is not None:
            self.on_put()

    def close(self) -> None:
        """The runner takes no more commands: later ones are refused."""
        self._closed = True

    def get(self, timeout: float | None = None) -> OperatorCommand | None:
        """The next command; waits up to ``timeout`` (None: forever; 0: not at all)."""
        try:
            if timeout == 0:
                return self._queue.get_nowait()
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
