"""What the live view shows, kept as numpy-ready buffers (no Qt here).

:class:`LiveSession` takes the controller's messages (:class:`rig.control.wire.Message`)
in order and keeps per-trial columns and the lick raster; the plots read them at display
rate. Everything shown comes from the device's own events and the trial records the
controller wrote: the view shows what the session files hold. It also keeps what the
banners say (the day's water target reached, the curriculum moved on) and the trials
queued on the device but not completed yet (the outcome plot shows them, as Bpod's does).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gui import feedback
from rig.bus import (
    ContextSwitched,
    DeviceEvents,
    OperatorActed,
    RunnerStatus,
    ScopeAlarm,
    SessionEnded,
    SessionStarted,
    TrialAborted,
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
        self.hand: list[tuple[int, float]] = []  # (after trial, uL) of each drop or flush
        # the day's water before this session (other sessions of the subject today)
        self.earlier_water_ul = float(self.info.get("earlier_water_today_ul") or 0.0)
        self.upcoming: dict[int, str] = {}  # queued, not completed: trial -> instructed side
        self.step = int(self.info.get("step", 0))
        self.last_switch: ContextSwitched | None = None
        self.water_reached: int | None = None  # the trial at which the day's target was met
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
            self.upcoming.pop(int(event.record["trial"]), None)
            self._check_water()
        elif isinstance(event, TrialQueued):
            self.queued = event
            self.upcoming[event.trial] = event.instructed
        elif isinstance(event, TrialAborted):
            self.upcoming.pop(event.trial, None)
        elif isinstance(event, ContextSwitched):
            self.switches.append((event.trial, event.to_label, event.reason))
            self.label = event.to_label
            self.step = event.to_step
            self.last_switch = event
        elif isinstance(event, OperatorActed):
            self.operator.append(event)
            volume = float(event.detail.get("volume_ul", 0.0))
            if volume:
                self.hand.append((event.after_trial, volume))
                self._check_water()
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
            self.upcoming.clear()

    def _check_water(self) -> None:
        target = self.water_target_ul()
        if self.water_reached is None and target > 0 and self.day_water_ul() >= target - 1e-9:
            self.water_reached = self.last_trial()

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
        """The current step's percent correct to move on (None: not a criterion step)."""
        criteria = self.info.get("criteria") or []
        if not 0 <= self.step < len(criteria):
            return None
        value = criteria[self.step]
        return None if value is None else float(value)

    def last_trial(self) -> int:
        """The newest completed trial's number (0 before the first)."""
        return int(self.cols.trial.view[-1]) if self.trials else 0

    @property
    def hand_water_ul(self) -> float:
        """The water given by hand so far (drops and flushes), uL."""
        return sum(v for _, v in self.hand)

    def water_ul(self) -> float:
        """This session's water: the trials' and what was given by hand."""
        return float(self.cols.water.view.sum()) + self.hand_water_ul

    def day_water_ul(self) -> float:
        """The day's water: earlier sessions today and this one."""
        return self.earlier_water_ul + self.water_ul()

    def water_target_ul(self) -> float:
        return float(self.info.get("water_target_ul") or 0.0)

    def day_water_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """The day's water after each trial (a point before the first trial, and the drops
        and flushes given after the last one), for the water plot."""
        trials = self.cols.trial.view
        first = float(trials[0]) - 1 if len(trials) else 0.0
        given = np.array([a for a, _ in self.hand], dtype=np.float64)
        volumes = np.array([v for _, v in self.hand], dtype=np.float64)
        order = np.argsort(given, kind="stable")
        hand_cum = np.concatenate([[0.0], np.cumsum(volumes[order])])
        # the hand water given before each trial ended: after_trial < trial
        at = hand_cum[np.searchsorted(given[order], trials, side="left")]
        x = np.concatenate([[first], trials, [trials[-1] if len(trials) else first]])
        before = hand_cum[np.searchsorted(given[order], first, side="right")]
        y = np.concatenate([[before], np.cumsum(self.cols.water.view) + at, [self.water_ul()]])
        return x, y + self.earlier_water_ul

    def banners(self) -> list[str]:
        """What the live view's banner says: the curriculum's move, the water target."""
        out = []
        if self.last_switch is not None:
            out.append(feedback.curriculum(self.last_switch, self.info.get("criteria")))
        if self.water_reached is not None:
            out.append(
                feedback.water(self.day_water_ul(), self.water_target_ul(), self.water_reached)
            )
        return out

    def timing(self) -> dict[str, float | None]:
        dead = self.cols.dead_ms.view
        dead = dead[~np.isnan(dead)]
        return {
            "dead_ms_last": float(dead[-1]) if len(dead) else None,
            "dead_ms_max": float(dead.max()) if len(dead) else None,
        }
