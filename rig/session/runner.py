"""The session runner: one event loop that keeps the device one trial ahead.

The runner queues trial 1, then reads the device's events and publishes them on the bus,
one :class:`rig.bus.DeviceEvents` per device cycle.
When the running trial enters a state that decides its outcome (``RewardLeft``,
``TimeOut``, ``NoResponse``, ...), the runner tells the planner, which updates trial
selection and the context tracker, and queues trial n+1 right away: the device starts it in
the cycle after trial n exits, while the host already knows trial n's outcome (anti-bias,
autolearn and free drops need it). The host never waits to pace a trial.

When a trial exits, its record is built from its own device events and published as
:class:`rig.bus.TrialCompleted`.

Lifecycle: ``run()`` once. ``request_stop()`` (any time, from a signal handler too) stops
queueing: the running trial, and the next one if it is already on the device (it was
queued when the running trial's outcome was decided), run to their end; nothing after.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from rig.bus import Bus, ContextSwitched, DeviceEvent, DeviceEvents, TrialCompleted, TrialQueued
from rig.devices.base import Device
from rig.session.planner import PlannedTrial, TrialPlanner
from rig.task.builder import DECISIONS
from rig.task.outcome import FREE_DROP_STATES, early_lick_count, summarize_trial
from rig.task.spec import Outcome


class SessionError(RuntimeError):
    """The device and the runner disagree about what is running."""


@dataclass
class _InFlight:
    plan: PlannedTrial
    events: list[DeviceEvent] = field(default_factory=list)
    decided: bool = False


@dataclass
class RunResult:
    trials_completed: int
    stopped_early: bool  # a stop request left trials unrun
    curriculum_completed: bool


class SessionRunner:
    def __init__(
        self,
        device: Device,
        planner: TrialPlanner,
        bus: Bus,
        *,
        max_trials: int,
        stop_when_curriculum_completed: bool = False,
        volume_ul: Callable[[str, float], float],
    ) -> None:
        self.device = device
        self.planner = planner
        self.bus = bus
        self.max_trials = max_trials
        self.stop_when_curriculum_completed = stop_when_curriculum_completed
        self.volume_ul = volume_ul
        self._stop = False
        self._queued = 0
        self._completed = 0
        self._in_flight: dict[int, _InFlight] = {}
        self._last_end: float | None = None

    def request_stop(self) -> None:
        self._stop = True

    def run(self) -> RunResult:
        self._queue_next()
        while self._in_flight:
            events = self.device.poll()
            if not events:
                raise SessionError(
                    f"the device went quiet with trial(s) {sorted(self._in_flight)} unfinished"
                )
            self.bus.publish(DeviceEvents(tuple(events)))
            for event in events:
                self._handle(event)
        return RunResult(
            self._completed,
            stopped_early=self._stop and self._queued < self.max_trials,
            curriculum_completed=self.planner.tracker.completed,
        )

    def _may_queue(self) -> bool:
        if self._stop or self._queued >= self.max_trials:
            return False
        return not (self.stop_when_curriculum_completed and self.planner.tracker.completed)

    def _queue_next(self) -> None:
        if not self._may_queue():
            return
        self._queued += 1
        plan = self.planner.next_trial(self._queued)
        self._in_flight[self._queued] = _InFlight(plan)
        self.device.queue(plan.machine, self._queued)
        spec = plan.spec
        self.bus.publish(
            TrialQueued(spec.trial, spec.label, spec.instructed, spec.free_drop, plan.sm_hash)
        )

    def _handle(self, event: DeviceEvent) -> None:
        flight = self._in_flight.get(event.trial)
        if flight is None:
            raise SessionError(f"event for trial {event.trial}, which is not running: {event}")
        flight.events.append(event)
        if event.kind == "state" and event.name in DECISIONS and not flight.decided:
            flight.decided = True
            self._decide(flight, DECISIONS[event.name])
        elif event.kind == "trial_end":
            self._complete(flight, event)

    def _decide(self, flight: _InFlight, outcome: Outcome) -> None:
        spec = flight.plan.spec
        given = any(e.kind == "state" and e.name in FREE_DROP_STATES for e in flight.events)
        advanced = self.planner.decided(
            spec, outcome, early_lick_count(flight.events) > 0, free_drop_given=given
        )
        if advanced is not None:
            self.bus.publish(
                ContextSwitched(
                    spec.trial,
                    advanced.from_label,
                    advanced.to_label,
                    advanced.trials_in_step,
                    advanced.reason,
                    advanced.from_step,
                    advanced.to_step,
                    advanced.completed,
                )
            )
        self._queue_next()

    def _complete(self, flight: _InFlight, end: DeviceEvent) -> None:
        plan = flight.plan
        if not flight.decided:
            raise SessionError(f"trial {end.trial} ended without an outcome")
        start = flight.events[0].t
        dead_ms = None if self._last_end is None else round((start - self._last_end) * 1000, 3)
        record = summarize_trial(
            plan.spec,
            plan.modality,
            plan.stimulus,
            flight.events,
            sm_hash=plan.sm_hash,
            dead_time_ms=dead_ms,
            volume_ul=self.volume_ul,
        )
        del self._in_flight[end.trial]
        self._last_end = end.t
        self._completed += 1
        self.bus.publish(TrialCompleted(record))
