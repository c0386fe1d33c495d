"""The gap between two trials, split: the rig's own dead time, pauses, machines run by hand.

The gap from one trial's end to the next trial's start (device clock) is made of idle
stretches and of hand drops and flushes (machines of their own, trial 0). Each idle stretch
ends when the next machine starts, and its kind is set by that machine:

- queued before the device went idle (the usual case: the next trial is on the device
  before the running one exits): the rig's own gap, **dead time** (one device cycle);
- queued on an idle device while the runner was paused (or was paused since the device
  went idle): the operator's pause, **paused**;
- queued on an idle device otherwise: the wait for a hand machine to end before the next
  trial could be queued, counted with the machines themselves, **hand**.

``dead_time_ms`` is None for the first trial of a run and for a trial whose whole gap was
a pause or hand time (there was no gap of the rig's own to measure).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Gap:
    dead_ms: float | None  # the rig's own gap; None: nothing of it to measure
    paused_ms: float  # the device idle while the runner was paused
    hand_ms: float  # hand drops and flushes, and the wait to queue the trial after them


NO_GAP = Gap(None, 0.0, 0.0)  # the first trial's


class Gaps:
    """Fed by the runner as machines are queued, start and end; :meth:`started` gives each
    trial's :class:`Gap`."""

    def __init__(self) -> None:
        self._end: float | None = None  # device time the last machine ended
        self._trial_ended = False  # a trial ended in this run: the next one has a gap
        self._cold = False  # the machine queued next was queued on an idle device
        self._kind = "hand"  # what a cold wait counts as
        self._paused_idle = False  # paused since the device went idle
        self._manual_start: float | None = None
        self._reset()

    def _reset(self) -> None:
        self._dead = self._paused = self._hand = 0.0
        self._warm = False

    def pause(self) -> None:
        """The operator paused (whether or not the device is idle now)."""
        self._paused_idle = True

    def queued(self, *, idle: bool) -> None:
        """A machine (a trial or a hand machine) was queued; ``idle``: the device had
        nothing running or queued."""
        self._cold = idle
        self._kind = "paused" if self._paused_idle else "hand"

    def started(self, t: float, *, manual: bool) -> Gap | None:
        """The queued machine started at device time ``t``; a trial's gap (None for a hand
        machine: its time goes to the next trial's)."""
        if self._end is not None:
            stretch = (t - self._end) * 1000
            if not self._cold:
                self._dead += stretch
                self._warm = True
            elif self._kind == "paused":
                self._paused += stretch
            else:
                self._hand += stretch
        if manual:
            self._manual_start = t
            return None
        dead = round(self._dead, 3) if self._warm and self._trial_ended else None
        gap = Gap(dead, round(self._paused, 3), round(self._hand, 3))
        self._reset()
        return gap

    def ended(self, t: float, *, manual: bool, paused: bool) -> None:
        """The running machine ended at device time ``t``; ``paused``: the runner is."""
        if manual and self._manual_start is not None:
            self._hand += (t - self._manual_start) * 1000
            self._manual_start = None
        if not manual:
            self._trial_ended = True
            self._reset()
        self._end = t
        self._paused_idle = paused


def recorded_gap(last_end: float | None, start: float, hand: Sequence[tuple[float, float]]) -> Gap:
    """A trial's gap from recorded events only (a resume rebuilding a record): the stretch
    before the first hand machine (``(start, end)`` device times) is dead time, the rest of
    the gap hand time; a pause is not in the events (it counts as dead time here)."""
    if last_end is None:
        return NO_GAP
    starts = [s for s, _ in hand if last_end <= s <= start]
    first = min(starts, default=start)
    return Gap(round((first - last_end) * 1000, 3), 0.0, round((start - first) * 1000, 3))
