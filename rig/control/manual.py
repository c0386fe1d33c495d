"""The manual panel: each valve, the tones and the pole by hand, with no session running.

For priming lines and checking a rig, as Bpod's manual override works any time. The
controller's ``manual`` request takes an ``action``:

- ``open`` (``side`` left/right, ``ms``): the valve open for ``ms``, at most the valve's
  ``max_open_s`` (hardware config);
- ``drop`` (``side``, optional ``volume_ul``): one drop at the calibrated open time of the
  reward volume (the default protocol's);
- ``flush`` (``side`` left/right/both, ``seconds``): the valve(s) open up to
  :data:`~rig.session.operator.MAX_FLUSH_S`;
- ``tone`` (``tone`` go_cue/high/low, optional ``seconds``): the go cue or a sample tone at
  the default protocol's frequency, at most :data:`MAX_TONE_S`;
- ``pole`` (``position`` anterior/posterior, optional ``seconds``): the pole in, at that
  position, until ``stop`` (at most :data:`MAX_POLE_S`);
- ``stop``: end the running action now (valves closed, tone off, pole out);
- ``status``: what runs, and the water given by hand since the controller started.

Each action is one small state machine run on the rig's device (:class:`DeviceRun`, as the
calibration's pulses), one at a time; the valves' openings are bounded a minute and their
water counted from the valves' own open and close by the rig's
:class:`~rig.session.hand.HandWater` (the session's own bound and count). While a session
or a calibration runs every action is refused, with the reason: a session's drops and
flushes are its own ``drop`` and ``flush`` commands, counted in the session.

Every action and every refusal is a line of the rig's ``operator.jsonl`` (there is no
session folder): ``<data_dir>/.rig/<rig name>/operator.jsonl`` (a dot folder: not a
subject). Each line has ``time`` (local, ISO), ``action``, ``args`` and ``outcome``
(``started``; then ``done``, ``stopped`` or ``failed`` with ``error``; or ``refused`` with
``refused``: the reason); an ended action's line has the water it gave (``given_ul``,
``flushed_ul``) and the rig's totals since the controller started (``total_ul``,
``total_flushed_ul``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from rig.bus import DeviceEvent
from rig.control.delivery import DeviceRun
from rig.control.owner import rig_folder
from rig.fsm.model import Output, State, StateMachine
from rig.schema.hardware import VALVE_FOR_SIDE, HardwareConfig
from rig.schema.loader import load_model
from rig.schema.protocol import Protocol
from rig.session.hand import HandWater
from rig.session.operator import check_command, drop_machine, flush_machine
from rig.session.recorder import append_all, make_dirs
from rig.session.runner import MANUAL  # the operator's trial: no max_open_s on a Bpod
from rig.session.today import DEFAULT_PROTOCOL

ACTIONS = ("open", "drop", "flush", "tone", "pole", "stop", "status")
MAX_TONE_S = 5.0
MAX_POLE_S = 60.0
TONES = {"go_cue": "go_cue", "high": "sample_tone_high", "low": "sample_tone_low"}


def log_path(data_dir: Path, rig: str) -> Path:
    """The rig's ``operator.jsonl`` (outside every session folder; beside its lock)."""
    return rig_folder(data_dir, rig) / "operator.jsonl"


class RigLog:
    """Lines appended to the rig's ``operator.jsonl`` from any thread, each synced."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def write(self, action: str, args: dict[str, Any], outcome: str, **more: Any) -> None:
        line = {
            "time": dt.datetime.now().astimezone().isoformat(timespec="milliseconds"),
            "action": action,
            "args": args,
            "outcome": outcome,
            **more,
        }
        data = json.dumps(line, separators=(",", ":"), default=str).encode() + b"\n"
        with self._lock:
            make_dirs(self.path.parent)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                append_all(fd, data)
                os.fdatasync(fd)  # rare, and what was given by hand must not be lost
            finally:
                os.close(fd)


def _seconds(
    action: str, args: dict[str, Any], key: str, default: float | None, most: float, why: str = ""
) -> float:
    value = args.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= most:
        raise ValueError(f"{action}: {key} must be in (0, {most:g}]{why}, not {value!r}")
    return float(value)


def _one_state(name: str, state: str, seconds: float, outputs: tuple[Output, ...]) -> StateMachine:
    return StateMachine(
        name=name,
        states=(State(name=state, timer_s=seconds, transitions={"Tup": "exit"}, outputs=outputs),),
    )


def _need(hardware: HardwareConfig, action: str, channels: tuple[str, ...]) -> None:
    missing = [c for c in channels if c not in hardware.channels]
    if missing:
        names = ", ".join(missing)
        raise ValueError(f"{action}: this rig has no {names} (hardware config channels)")


def manual_machine(
    action: str, args: dict[str, Any], hardware: HardwareConfig, protocol: Protocol
) -> tuple[StateMachine, tuple[str, ...], float]:
    """The machine of one action, the valves it opens and for how long each (for the
    bound); raises ``ValueError`` naming the field when an argument is wrong."""
    if action in ("open", "drop") and args.get("side") not in ("left", "right"):
        raise ValueError(f"{action}: side must be left or right, not {args.get('side')!r}")
    if action == "open":
        side = str(args["side"])
        limit = hardware.valve(side).max_open_s
        why = f" (valves.{VALVE_FOR_SIDE[side]}.max_open_s: {limit:g} s)"
        seconds = _seconds(action, args, "ms", None, limit * 1000, why) / 1000
        valve = VALVE_FOR_SIDE[side]
        machine = _one_state(f"hand_open_{side}", "ValveOpen", seconds, (Output(channel=valve),))
        return machine, (valve,), seconds
    if action == "drop":
        volume = args.get("volume_ul", protocol.reward.volume_ul)
        if isinstance(volume, bool) or not isinstance(volume, int | float):
            raise ValueError(f"drop: volume_ul {volume!r} is not a number")
        machine = drop_machine(hardware, str(args["side"]), float(volume))
        return machine, (machine.states[0].outputs[0].channel,), machine.states[0].timer_s
    if action == "flush":
        command = check_command("flush", args)  # the session's own limits
        machine = flush_machine(command.args["side"], float(command.args["seconds"]))
        state = machine.states[0]
        return machine, tuple(o.channel for o in state.outputs), state.timer_s
    if action == "tone":
        tone = args.get("tone")
        if tone not in TONES:
            raise ValueError(f"tone: tone must be one of {', '.join(TONES)}, not {tone!r}")
        seconds = _seconds(action, args, "seconds", 1.0, MAX_TONE_S)
        channel = TONES[str(tone)]
        _need(hardware, "tone", (channel,))
        freq = (
            protocol.epochs.go_cue.freq_hz if tone == "go_cue" else protocol.stimuli.tone_hz[tone]
        )
        output = Output(channel=channel, freq_hz=freq)
        return _one_state(f"hand_tone_{tone}", "Tone", seconds, (output,)), (), 0.0
    if action == "pole":
        position = args.get("position")
        if position not in protocol.stimuli.pole_positions:
            raise ValueError(f"pole: position must be anterior or posterior, not {position!r}")
        seconds = _seconds(action, args, "seconds", MAX_POLE_S, MAX_POLE_S)
        _need(hardware, "pole", ("pole_position", "pole_drop"))
        value = protocol.stimuli.pole_positions[position]
        outputs = (Output(channel="pole_position", value=value), Output(channel="pole_drop"))
        return _one_state(f"hand_pole_{position}", "PoleIn", seconds, outputs), (), 0.0
    raise ValueError(f"action: {action!r} is not one of {', '.join(ACTIONS)}")


class ManualRun(DeviceRun):
    """One action on the device; its valves' water counted by the rig's hand water."""

    def __init__(
        self, action: str, args: dict[str, Any], hand: HandWater, log: RigLog, **run: Any
    ) -> None:
        super().__init__(**run, trial=MANUAL, virtual=False)
        self.action, self.args, self.hand, self.log = action, args, hand, log
        self._before = (hand.given_ul, hand.flushed_ul)  # the rig's totals when it started

    @property
    def given_ul(self) -> float:
        """What this action gave: the rig's hand water since it started (one at a time)."""
        return self.hand.given_ul - self._before[0]

    @property
    def flushed_ul(self) -> float:
        return self.hand.flushed_ul - self._before[1]

    def on_event(self, event: DeviceEvent) -> None:
        self.hand.count(event, self.action)

    def _run(self) -> None:
        super()._run()
        outcome = "failed" if self.error else "stopped" if self.aborted else "done"
        more: dict[str, Any] = {"error": self.error} if self.error else {}
        self.log.write(self.action, self.args, outcome, **more, **self.water())

    def water(self) -> dict[str, float]:
        return {
            "given_ul": round(self.given_ul, 3),
            "flushed_ul": round(self.flushed_ul, 3),
            "total_ul": round(self.hand.given_ul, 3),
            "total_flushed_ul": round(self.hand.flushed_ul, 3),
        }


class Manual:
    """The rig's manual actions, one at a time, bounded and counted for the controller's
    lifetime; ``request`` is the controller's ``manual`` request."""

    def __init__(self, data_dir: Path, protocols_dir: Path, seed: int | None, speed: float):
        self.data_dir, self.protocols_dir, self.seed, self.speed = (
            data_dir,
            protocols_dir,
            seed,
            speed,
        )
        self.hardware: HardwareConfig | None = None
        self.hand = HandWater(self._volume_ul)
        self.run: ManualRun | None = None
        self.log: RigLog | None = None

    def _volume_ul(self, side: str, open_s: float) -> float:
        assert self.hardware is not None
        return self.hardware.delivered_ul(side, open_s)

    @property
    def running(self) -> bool:
        return self.run is not None and self.run.running

    def busy(self) -> str:
        if not self.running:
            return ""
        assert self.run is not None
        detail = ", ".join(f"{k} {v}" for k, v in self.run.args.items())
        return f"manual: {self.run.action}" + (f" ({detail})" if detail else "")

    def stop(self) -> None:
        """End the running action, and wait for it (the device is closed after)."""
        run = self.run
        if run is not None:
            run.abort()
            run.join()

    def request(self, req: dict[str, Any], hardware: HardwareConfig, busy: str) -> dict[str, Any]:
        """``busy``: what the rest of the rig is doing ("session", "calibration", "")."""
        self.log = RigLog(log_path(self.data_dir, hardware.name))
        action = str(req.get("action", ""))
        args = dict(req.get("args") or {})
        if action == "status":
            return self.status(busy)
        try:
            if action == "stop":
                if self.run is None or not self.running:
                    raise ValueError("stop: no manual action is running")
                self.log.write(action, args, "done", stopping=self.run.action)
                self.run.abort()
                return {"stopping": self.run.action}
            return self._start(action, args, hardware, busy)
        except ValueError as exc:
            self.log.write(action, args, "refused", refused=str(exc))
            raise

    def _start(
        self, action: str, args: dict[str, Any], hardware: HardwareConfig, busy: str
    ) -> dict[str, Any]:
        if action not in ACTIONS:
            raise ValueError(f"action: {action!r} is not one of {', '.join(ACTIONS)}")
        if busy == "session":
            raise ValueError(
                f"{action}: the rig is busy (a session is running): give drops and flushes "
                "with the session's own buttons (counted in the session); the rest waits for "
                "its end"
            )
        if busy or self.running:
            raise ValueError(f"{action}: the rig is busy ({busy or self.busy()}); stop it first")
        protocol = load_model(self.protocols_dir / DEFAULT_PROTOCOL, Protocol)
        machine, valves, open_s = manual_machine(action, args, hardware, protocol)
        self.hardware = hardware
        if valves:
            self.hand.take(action, valves, open_s, time.monotonic())  # OperatorError: refused
        assert self.log is not None
        self.run = ManualRun(
            action,
            args,
            self.hand,
            self.log,
            hardware=hardware,
            protocols_dir=self.protocols_dir,
            machine=machine,
            seed=self.seed,
            speed=self.speed,
        )
        self.log.write(action, args, "started", open_s=round(open_s, 4))
        self.run.start()
        return {"started": action, "open_s": round(open_s, 4), "machine": machine.name}

    def status(self, busy: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "running": self.run.action if self.running and self.run else "",
            "busy": busy or self.busy(),
            "given_ul": round(self.hand.given_ul, 3),
            "flushed_ul": round(self.hand.flushed_ul, 3),
            "log": str(self.log.path) if self.log else "",
        }
        if self.run is not None:
            last: dict[str, Any] = {"action": self.run.action, "args": self.run.args}
            last.update(self.run.water(), stopped=self.run.aborted)
            if self.run.error:
                last["error"] = self.run.error
            out["last"] = last
        return out
