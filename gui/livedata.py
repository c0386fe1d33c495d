"""What the live view shows, kept as numpy-ready buffers (no Qt here).

:class:`LiveSession` takes the controller's messages (:class:`rig.control.wire.Message`)
in order and keeps per-trial columns and the lick raster; the plots read them at display
rate. Everything shown comes from the device's own events and the trial records the
controller wrote: the view shows what the session files hold.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rig.bus import (
    ContextSwitched,
    DeviceEvents,
    OperatorActed,
    RunnerStatus,
    ScopeAlarm,
    SessionEnded,
    SessionStarted,
    TrialCompleted,
    TrialQueued,
)
from rig.control.wire import Message

OUTCOMES = ("hit", "error", "no_response")
LICKS = {"lick_left": "left", "lick_right": "right"}


def rolling_percent(flags: np.ndarray, valid: np.ndarray, window: int) -> np.ndarray:
    """Percent of ``flags`` among the last ``window`` valid entries, at each entry (NaN
    before the first valid one)."""
    v = valid.astype(np.int64)
    f = (flags & valid).astype(np.int64)
    cv, cf = np.cumsum(v), np.cumsum(f)
    idx = np.flatnonzero(valid)
    if len(idx) == 0:
        return np.full(len(flags), np.nan)
    before = np.maximum(cv - window, 0)  # valid entries that fell out of the window at i
    flags_before = np.where(before > 0, cf[idx[np.maximum(before - 1, 0)]], 0)
    n = cv - before
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, 100.0 * (cf - flags_before) / n, np.nan)


class Buffer:
    """A growing numpy array: appends are amortised O(1); :attr:`view` is the filled part."""

    def __init__(self, dtype: type | str, capacity: int = 1024) -> None:
        self._data = np.zeros(capacity, dtype=dtype)
        self.n = 0

    def append(self, value: object) -> None:
        if self.n == len(self._data):
            self._data = np.concatenate([self._data, np.zeros_like(self._data)])
        self._data[self.n] = value
        self.n += 1

    @property
    def view(self) -> np.ndarray:
        return self._data[: self.n]


class Columns:
    """One entry per completed trial."""

    def __init__(self) -> None:
        self.trial = Buffer(np.float64)
        self.right = Buffer(np.bool_)  # instructed side
        self.outcome = Buffer(np.int8)  # index into OUTCOMES
        self.early = Buffer(np.bool_)
        self.free_drop = Buffer(np.bool_)
        self.latency = Buffer(np.float64)  # NaN: no lick after the go cue
        self.water = Buffer(np.float64)  # uL given in the trial
        self.dead_ms = Buffer(np.float64)  # NaN: the first trial
        self.label: list[str] = []


class Raster:
    """Lick onsets of one instructed side: x (s from the go cue), row, lick side (1: right)."""

    def __init__(self) -> None:
        self.x = Buffer(np.float64, 8192)
        self.row = Buffer(np.float64, 8192)
        self.side = Buffer(np.int8, 8192)
        self.rows = 0


class LiveSession:
    def __init__(self) -> None:
        self.reset()

    def reset(self, started: SessionStarted | None = None) -> None:
        self.started = started
        self.info: dict[str, Any] = dict(started.info) if started else {}
        self.cols = Columns()
        # lick raster, per instructed side: x (s from the go cue), y (row), lick side (1 right)
        self.raster = {"left": Raster(), "right": Raster()}
        self._blocks: tuple[int, list[tuple[float, float, str]]] = (0, [])
        self.switches: list[tuple[int, str, str]] = []  # after trial, to label, reason
        self.label = started.label if started else ""
        self.status = "idle" if started is None else "running"
        self.trial = 0  # the trial on the device
        self.state = ""
        self.queued: TrialQueued | None = None
        self.aborted: list[int] = []
        self.operator: list[OperatorActed] = []
        self.hand_water_ul = 0.0
        self.frames = 0  # frame-clock pulses seen
        self.ended: SessionEnded | None = None
        self.last_seq = 0
        self.last_mono = 0.0  # controller clock of the newest message
        self.last_device_t = 0.0
        self.version = 0  # bumped by every change: the view redraws when it moved
        self.plot_version = 0  # bumped by changes to the plots (trials, contexts, water)

    # -- input ------------------------------------------------------------------------------
    def apply(self, message: Message) -> None:
        event = message.event
        self.last_seq, self.last_mono = message.seq, message.mono
        self.version += 1
        if not isinstance(event, DeviceEvents | TrialQueued | RunnerStatus):
            self.plot_version += 1
        if isinstance(event, SessionStarted):
            plot_version = self.plot_version
            self.reset(event)
            self.version, self.plot_version = message.seq, plot_version
        elif isinstance(event, DeviceEvents):
            for e in event.events:
                self.last_device_t = e.t
                if e.kind == "input" and e.name == "frame_clock":
                    self.frames += 1
                if e.trial > 0 and e.kind == "state":
                    self.trial, self.state = e.trial, e.name
                elif e.trial == 0 and e.kind == "state":
                    self.state = e.name
        elif isinstance(event, TrialCompleted):
            self._add_trial(event.record)
        elif isinstance(event, TrialQueued):
            self.queued = event
        elif isinstance(event, ContextSwitched):
            self.switches.append((event.trial, event.to_label, event.reason))
            self.label = event.to_label
        elif isinstance(event, OperatorActed):
            self.operator.append(event)
            self.hand_water_ul += float(event.detail.get("volume_ul", 0.0))
        elif isinstance(event, RunnerStatus):
            self.status = event.status
        elif isinstance(event, ScopeAlarm):
            where = self.info.get("microscope", "microscope")
            self.info["microscope"] = (
                f"{where.split(':')[0]}: connected again at {event.host_t:.1f} s"
                if event.connected
                else f"{where.split(':')[0]}: LOST at {event.host_t:.1f} s"
            )
            self.aborted.append(event.trial)
        elif isinstance(event, SessionEnded):
            self.ended = event
            self.status = f"ended ({event.status})"
            self.state = ""

    def _add_trial(self, r: dict[str, Any]) -> None:
        c = self.cols
        side = r["instructed"]
        c.trial.append(r["trial"])
        c.right.append(side == "right")
        c.outcome.append(OUTCOMES.index(r["outcome"]))
        c.early.append(bool(r["early_lick"]))
        c.free_drop.append(bool(r.get("free_drop_given", r["free_drop"])))
        c.label.append(r.get("context_label", r["context"]))
        latency = r.get("first_lick_latency_s")
        c.latency.append(np.nan if latency is None else float(latency))
        c.water.append(float(r.get("reward_ul", 0.0)) + float(r.get("free_drop_ul", 0.0)))
        dead = r.get("dead_time_ms")
        c.dead_ms.append(np.nan if dead is None else float(dead))
        raster = self.raster[side]
        raster.rows += 1
        t_go = r.get("t_go")
        if t_go is not None:
            for lick_side, onset, *_ in r.get("licks", ()):
                raster.x.append(onset - t_go)
                raster.row.append(raster.rows)
                raster.side.append(1 if lick_side == "right" else 0)

    # -- derived, for the plots -------------------------------------------------------------
    @property
    def trials(self) -> int:
        return self.cols.trial.n

    @property
    def window(self) -> int:
        return 100

    def arrays(self) -> dict[str, np.ndarray]:
        c = self.cols
        outcome, right, early = c.outcome.view, c.right.view, c.early.view
        responded = outcome != OUTCOMES.index("no_response")
        hit = outcome == OUTCOMES.index("hit")
        w = self.window
        return {
            "trial": c.trial.view,
            "right": right,
            "outcome": outcome,
            "early": early,
            "free_drop": c.free_drop.view,
            "pc": rolling_percent(hit, responded, w),
            "pc_left": rolling_percent(hit, responded & ~right, w),
            "pc_right": rolling_percent(hit, responded & right, w),
            "early_pc": rolling_percent(early, responded, w),
            "latency": c.latency.view,
            "water": np.cumsum(c.water.view),
            "dead_ms": c.dead_ms.view,
        }

    def context_blocks(self) -> list[tuple[float, float, str]]:
        """(first trial, last trial, label) of each run of one context label."""
        if self._blocks[0] == self.trials:
            return self._blocks[1]
        blocks: list[tuple[float, float, str]] = []
        for n, label in zip(self.cols.trial.view.tolist(), self.cols.label, strict=True):
            if blocks and blocks[-1][2] == label:
                blocks[-1] = (blocks[-1][0], n, label)
            else:
                blocks.append((n, n, label))
        self._blocks = (self.trials, blocks)
        return blocks

    def criterion(self) -> float | None:
        criteria = self.info.get("criteria") or []
        steps = self.info.get("steps") or []
        if self.label in steps:
            value = criteria[steps.index(self.label)]
            return None if value is None else float(value)
        return None

    def water_ul(self) -> float:
        return float(self.cols.water.view.sum()) + self.hand_water_ul

    def timing(self) -> dict[str, float | None]:
        dead = self.cols.dead_ms.view
        dead = dead[~np.isnan(dead)]
        return {
            "dead_ms_last": float(dead[-1]) if len(dead) else None,
            "dead_ms_max": float(dead.max()) if len(dead) else None,
        }
