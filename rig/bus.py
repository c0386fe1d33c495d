"""Typed, frozen, past-tense events and the subscriber registry.

The runner publishes; the recorder, the live statistics, the progress bar (and later the
microscope publisher and the GUI bridge) subscribe. A subscriber that raises is isolated:
the others still get the event, and the failure is kept in :attr:`Bus.failures` and
published once as :class:`SubscriberFailed` so the session can report it. A *critical*
subscriber (the recorder: losing data must stop the session) is run in the same way, but
its exception is raised again once every subscriber has had the event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

log = logging.getLogger(__name__)

DeviceEventKind = Literal["trial_start", "state", "input", "output", "trial_end"]


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """One event on the device clock: ``t`` in device seconds from the session's start."""

    trial: int
    kind: DeviceEventKind
    name: str
    t: float
    value: int = 0
    freq_hz: float | None = None
    host_t: float | None = None  # host receive time, seconds from the session's start


@dataclass(frozen=True, slots=True)
class DeviceEvents:
    """The device events of one device cycle, in the device's order (one trial's)."""

    events: tuple[DeviceEvent, ...]


@dataclass(frozen=True, slots=True)
class SessionStarted:
    session_dir: str
    subject: str
    protocol: str
    label: str
    info: dict[str, Any] = field(default_factory=dict)  # what a live view needs to know


@dataclass(frozen=True, slots=True)
class TrialQueued:
    trial: int
    label: str
    instructed: str
    free_drop: bool
    sm_hash: str
    plan: dict[str, Any] = field(default_factory=dict)  # the TrialSpec, modality, stimulus


@dataclass(frozen=True, slots=True)
class TrialCompleted:
    record: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ContextSwitched:
    """The curriculum moved on (a context or a stage), or its last step was completed."""

    trial: int  # the last trial of the old step
    from_label: str
    to_label: str
    trials_in_step: int
    reason: str
    from_step: int = 0
    to_step: int = 0
    completed: bool = False


@dataclass(frozen=True, slots=True)
class OperatorActed:
    """An operator's command, applied (``docs/data-format.md``, ``operator.jsonl``)."""

    action: str
    args: dict[str, Any]
    host_t: float  # seconds from the session's start, host clock
    after_trial: int  # the last completed trial when it was applied
    applies_from: int | None = None  # the first trial it changes (switch, set)
    detail: dict[str, Any] = field(default_factory=dict)  # e.g. volume, old value


@dataclass(frozen=True, slots=True)
class RunnerStatus:
    """running | pausing | paused | stopping | aborting (published when it changes)."""

    status: str
    trials_completed: int


@dataclass(frozen=True, slots=True)
class TrialAborted:
    """A trial ended by the operator's abort before its outcome was decided."""

    trial: int
    t: float | None  # device seconds of its forced end; None: it never started


@dataclass(frozen=True, slots=True)
class ScopeAlarm:
    """The microscope's bridge went silent (``connected`` False) or came back."""

    connected: bool
    host_t: float  # when the link noticed, seconds from the session's start
    detail: str


@dataclass(frozen=True, slots=True)
class SessionEnded:
    status: str
    summary: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SubscriberFailed:
    subscriber: str
    event: str
    error: str


Handler = Callable[[Any], None]


@dataclass
class Bus:
    _handlers: dict[type, list[tuple[Handler, bool]]] = field(default_factory=dict)
    failures: list[SubscriberFailed] = field(default_factory=list)

    def subscribe(
        self, event_type: type, handler: Handler, *, critical: bool = False
    ) -> Callable[[], None]:
        """Subscribe; returns the function that unsubscribes."""
        entry = (handler, critical)
        self._handlers.setdefault(event_type, []).append(entry)
        return lambda: self._handlers[event_type].remove(entry)

    def publish(self, event: object) -> None:
        fatal: Exception | None = None
        for handler, critical in tuple(self._handlers.get(type(event), ())):
            try:
                handler(event)
            except Exception as exc:  # isolate: one subscriber must not stop the others
                if critical:
                    fatal = fatal or exc
                    continue
                failure = SubscriberFailed(
                    getattr(handler, "__qualname__", repr(handler)), type(event).__name__, repr(exc)
                )
                log.exception("subscriber %s failed on %s", failure.subscriber, failure.event)
                self.failures.append(failure)
                if not isinstance(event, SubscriberFailed):
                    self.publish(failure)
        if fatal is not None:
            raise fatal
