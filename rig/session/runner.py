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

The operator's commands (:mod:`rig.session.operator`) come through an :class:`Inbox`,
taken after each batch of device events (and waited for only while paused with nothing on
the device). Hand drops and flushes run as machines of their own, numbered trial 0 in the
device events, in the first free place in the device's queue.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rig.bus import (
    Bus,
    ContextSwitched,
    DeviceEvent,
    DeviceEvents,
    OperatorActed,
    RunnerStatus,
    TrialAborted,
    TrialCompleted,
    TrialQueued,
)
from rig.devices.base import Device, PollInterrupted
from rig.fsm.model import StateMachine
from rig.schema.hardware import VALVE_FOR_SIDE
from rig.session.deadtime import NO_GAP, Gap, Gaps
from rig.session.hand import VALVE_SIDES, HandWater
from rig.session.operator import (
    Inbox,
    OperatorCommand,
    OperatorError,
    check_step,
    drop_machine,
    edited_protocol,
    flush_machine,
)
from rig.session.planner import PlannedTrial, TrialPlanner
from rig.session.preflight import preflight
from rig.task.builder import DECISIONS
from rig.task.context import StepAdvanced
from rig.task.outcome import FREE_DROP_STATES, early_lick_count, summarize_trial
from rig.task.spec import Outcome


class SessionError(RuntimeError):
    """The device and the runner disagree about what is running."""


@dataclass
class _InFlight:
    plan: PlannedTrial
    events: list[DeviceEvent] = field(default_factory=list)
    decided: bool = False
    gap: Gap = NO_GAP  # from the previous trial's end to this one's start


@dataclass
class RunResult:
    trials_completed: int
    stopped_early: bool  # a stop request left trials unrun
    curriculum_completed: bool
    aborted: bool = False
    hand_water_ul: float = 0.0


MANUAL = 0  # the trial number of hand drops and flushes in the device events


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
        inbox: Inbox | None = None,
        clock: Callable[[], float] = time.monotonic,
        first_trial: int = 1,
    ) -> None:
        self.device = device
        self.planner = planner
        self.bus = bus
        self.max_trials = max_trials + first_trial - 1  # counted in trial numbers
        self.stop_when_curriculum_completed = stop_when_curriculum_completed
        self.volume_ul = volume_ul
        self._stop = False
        self._before = first_trial - 1  # trials numbered before this run (a resume's)
        self._queued = first_trial - 1  # the last trial number queued
        self._completed = 0
        self._in_flight: dict[int, _InFlight] = {}
        self._gaps = Gaps()  # what the device did between two trials (dead time, pauses)
        self.inbox = inbox
        if inbox is not None:
            inbox.on_put = device.interrupt
        self.clock = clock
        self._t0 = clock()
        self._paused = False
        self._aborting = False
        self._waiting: int | None = None  # queued on the device, not started yet
        self._manual: deque[tuple[OperatorCommand, StateMachine, float]] = deque()
        self._manual_running: OperatorCommand | None = None
        self._status = ""
        self._decided = 0  # trials whose outcome the planner knows (a switch comes after them)
        self._pending_switch: OperatorCommand | None = None
        self._hand = HandWater(volume_ul)  # drops and flushes: counted and bounded

    @property
    def hand_water_ul(self) -> float:
        return self._hand.given_ul

    def request_stop(self) -> None:
        self._stop = True

    def run(self) -> RunResult:
        self._queue_next()
        self._publish_status()
        while True:
            self._take_commands(wait=False)
            if not self._busy():
                if self._stop or not (self._paused or self._manual):
                    break
                self._take_commands(wait=True)  # paused: nothing runs until the operator acts
                continue
            try:
                events = self.device.poll()
            except PollInterrupted:
                continue  # a command came in: take it now, not at the next device event
            if not events:
                raise SessionError(
                    f"the device went quiet with trial(s) {sorted(self._in_flight)} unfinished"
                )
            self.bus.publish(DeviceEvents(tuple(events)))
            for event in events:
                self._handle(event)
            self._publish_status()
        self._publish_status()
        if self.inbox is not None:
            self.inbox.close()  # later commands are refused, not silently dropped
        return RunResult(
            self._completed,
            stopped_early=self._stop and self._queued < self.max_trials,
            curriculum_completed=self.planner.tracker.completed,
            aborted=self._aborting,
            hand_water_ul=round(self.hand_water_ul, 3),
        )

    def _busy(self) -> bool:
        return bool(self._in_flight) or self._manual_running is not None

    def _publish_status(self) -> None:
        if self._aborting:
            status = "aborting"
        elif self._stop:
            status = "stopping"
        elif self._paused:
            status = "pausing" if self._in_flight else "paused"
        else:
            status = "running"
        if status != self._status:
            self._status = status
            self.bus.publish(RunnerStatus(status, self._completed))

    # -- the operator ---------------------------------------------------------------------
    def _take_commands(self, *, wait: bool) -> None:
        if self.inbox is None:
            return
        command = self.inbox.get(0.2 if wait else 0)
        while command is not None:
            try:
                self._apply(command)
            except (OperatorError, ValueError) as exc:
                self._acted(command, detail={"refused": str(exc)})
            command = self.inbox.get(0)
        self._publish_status()

    def _acted(
        self,
        command: OperatorCommand,
        applies_from: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        self.bus.publish(
            OperatorActed(
                command.action,
                command.args,
                round(self.clock() - self._t0, 6),
                self._before + self._completed,  # a trial number, after a resume too
                applies_from,
                detail or {},
            )
        )

    def _apply(self, command: OperatorCommand) -> None:
        action, args = command.action, command.args
        planner = self.planner
        if action == "pause":
            self._paused = True
            self._gaps.pause()
            self._acted(command)
        elif action == "resume":
            self._paused = False
            self._acted(command)
            self._queue_next()
        elif action == "stop":
            self._stop = True
            self._acted(command)
        elif action == "abort":
            self._stop = self._aborting = True
            self._manual.clear()
            self._pending_switch = None
            self._acted(command)
            if self._busy():
                self._abort_device()
        elif action in ("drop", "flush") and self._aborting:
            raise OperatorError(f"{action}: the session is being aborted")
        elif action == "drop":
            volume = planner.protocol.reward.volume_ul
            machine = drop_machine(planner.hardware, args["side"], volume,
                                   planner.protocol.reward.beyond_calibration)  # fmt: skip
            self._hand.take(action, (VALVE_FOR_SIDE[args["side"]],), machine.states[0].timer_s,
                            self.clock())  # fmt: skip
            self._manual.append((command, machine, volume))
            self._queue_next()
        elif action == "flush":
            machine = flush_machine(args["side"], args["seconds"])
            valves = tuple(o.channel for o in machine.states[0].outputs)
            self._hand.take(action, valves, args["seconds"], self.clock())
            volume = sum(self.volume_ul(VALVE_SIDES[v], args["seconds"]) for v in valves)
            self._manual.append((command, machine, volume))  # its water, for the live view
            self._queue_next()
        elif action == "switch":
            check_step(args.get("to_step"), len(planner.protocol.curriculum))
            self._pending_switch = command
            if not any(not f.decided for f in self._in_flight.values()):
                self._switch_now()  # else at the next decision: that trial ran in the old step
        elif action == "set":
            protocol, old = edited_protocol(planner.protocol, args["path"], args["value"])
            problems = preflight(protocol, planner.hardware)
            if problems:
                raise OperatorError(f"set {args['path']} = {args['value']!r}: {problems[0]}")
            planner.replace_protocol(protocol)
            self._acted(command, self._queued + 1, {"old": old})
        elif action == "note":
            self._acted(command)

    def _switch_now(self) -> None:
        """The operator's switch, once every trial on the device has its outcome counted:
        it applies from the next trial planned."""
        command, self._pending_switch = self._pending_switch, None
        if command is None:
            return
        args = command.args
        advanced = self.planner.tracker.switch(args["reason"], args.get("to_step"))
        self._acted(command, self._queued + 1)
        if advanced is not None:
            self._publish_switch(self._before + self._decided, advanced)

    def _abort_device(self) -> None:
        for trial in self.device.abort():  # queued, now dropped: they never start
            if self._waiting == trial:
                self._waiting = None
            if trial == MANUAL:
                self._manual_running = None
            elif self._in_flight.pop(trial, None) is not None:
                self.bus.publish(TrialAborted(trial, None))

    # -- queueing ---------------------------------------------------------------------------
    def _may_queue(self) -> bool:
        if self._stop or self._paused or self._queued >= self.max_trials:
            return False
        return not (self.stop_when_curriculum_completed and self.planner.tracker.completed)

    def _queue_next(self) -> None:
        """Fill the device's one free place: a hand drop first, else the next trial (once
        the running trial's outcome is known)."""
        if self._waiting is not None or self._manual_running is not None:
            return
        if self._manual:
            self._gaps.queued(idle=not self._in_flight)
            command, machine, volume = self._manual.popleft()
            self._manual_running = command
            self._waiting = MANUAL
            self.device.queue(machine, MANUAL)
            detail: dict[str, Any] = {"state_machine": machine.name}
            if volume:
                detail["volume_ul"] = volume
            self._acted(command, detail=detail)
            return
        if not self._may_queue() or any(not f.decided for f in self._in_flight.values()):
            return
        self._gaps.queued(idle=not self._in_flight)
        plan = self.planner.next_trial(self._queued + 1)
        self._queued += 1
        self._in_flight[self._queued] = _InFlight(plan)
        self._waiting = self._queued
        self.device.queue(plan.machine, self._queued)
        spec = plan.spec
        self.bus.publish(TrialQueued(spec.trial, spec.label, spec.instructed, spec.free_drop,
                                     plan.sm_hash, plan.to_json()))  # fmt: skip

    def _handle(self, event: DeviceEvent) -> None:
        if event.kind == "trial_start" and event.trial == self._waiting:
            self._waiting = None
            gap = self._gaps.started(event.t, manual=event.trial == MANUAL)
            if gap is not None and event.trial in self._in_flight:
                self._in_flight[event.trial].gap = gap
            if self._aborting:
                self._abort_device()
            else:
                self._queue_next()
        if event.trial == MANUAL and self._manual_running is not None:
            self._hand.count(event, self._manual_running.action)
            if event.kind == "trial_end":
                self._manual_running = None
                self._gaps.ended(event.t, manual=True, paused=self._paused)
                self._queue_next()
            return
        flight = self._in_flight.get(event.trial)
        if flight is None:
            raise SessionError(f"event for trial {event.trial}, which is not running: {event}")
        flight.events.append(event)
        if event.kind == "state" and event.name in DECISIONS and not flight.decided:
            flight.decided = True
            self._decided += 1
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
            self._publish_switch(spec.trial, advanced)
        if self._pending_switch is not None and all(f.decided for f in self._in_flight.values()):
            self._switch_now()
        self._queue_next()

    def _publish_switch(self, trial: int, advanced: StepAdvanced) -> None:
        self.bus.publish(
            ContextSwitched(
                trial,
                advanced.from_label,
                advanced.to_label,
                advanced.trials_in_step,
                advanced.reason,
                advanced.from_step,
                advanced.to_step,
                advanced.completed,
            )
        )

    def _complete(self, flight: _InFlight, end: DeviceEvent) -> None:
        plan = flight.plan
        self._gaps.ended(end.t, manual=False, paused=self._paused)
        if not flight.decided and self._aborting:
            del self._in_flight[end.trial]
            self.bus.publish(TrialAborted(end.trial, end.t))
            return
        if not flight.decided:
            raise SessionError(f"trial {end.trial} ended without an outcome")
        record = summarize_trial(
            plan.spec,
            plan.modality,
            plan.stimulus,
            flight.events,
            sm_hash=plan.sm_hash,
            dead_time_ms=flight.gap.dead_ms,
            volume_ul=self.volume_ul,
            paused_ms=flight.gap.paused_ms,
            hand_ms=flight.gap.hand_ms,
        )
        del self._in_flight[end.trial]
        self._completed += 1
        self.bus.publish(TrialCompleted(record))
