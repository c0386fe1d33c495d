"""The one interface every behaviour device offers the session runner.

A device runs one trial's state machine at a time and holds the next one queued, so the
next trial starts in the cycle after the current one exits (the Bpod's RunASAP). Timing
stays on the device; the host only queues machines and reads events.
"""

from __future__ import annotations

from typing import Protocol

from rig.bus import DeviceEvent
from rig.fsm.model import StateMachine


class PollInterrupted(Exception):
    """:meth:`Device.poll` returned early, with nothing to report, because
    :meth:`Device.interrupt` was called (the operator has a command)."""


class Device(Protocol):
    @property
    def idle(self) -> bool:
        """No trial running and none queued."""
        ...

    def queue(self, machine: StateMachine, trial: int) -> None:
        """Send the next trial; it starts after the running one exits, or now when idle."""
        ...

    def abort(self) -> list[int]:
        """End the running trial now (its end comes through :meth:`poll`) and drop the
        queued one, if any; returns the numbers of the dropped trials (they never start)."""
        ...

    def interrupt(self) -> None:
        """Make a waiting :meth:`poll` raise :class:`PollInterrupted` soon; any thread."""
        ...

    def poll(self) -> list[DeviceEvent]:
        """The next events, on the device clock; [] when the device will report nothing more."""
        ...
