"""A behaviour device on virtual time: the reference executor wired to a simulated mouse.

The "world" is the coupling in between: the device's outputs reach the mouse (pole, tones,
go cue, water, with the volume from the rig's valve calibration) and the mouse's port
contacts come back as input edges. Time is the device's cycle counter; nothing sleeps.
:meth:`VirtualDevice.poll` runs to the next cycle at which the device reports something
and returns it, so a 10 s trial takes a few dozen steps.

With ``realtime=True`` the device waits for the wall clock to catch up with its own before
returning events (a demo that runs at the speed of a real rig; ``speed`` > 1 runs that many
times faster). An idle device's clock follows the wall clock, so a pause between trials
takes as long on the device as on the wall.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

from rig.bus import DeviceEvent
from rig.devices.base import PollInterrupted
from rig.fsm.executor import CYCLES_PER_S, Record, ReferenceExecutor
from rig.fsm.model import StateMachine
from rig.sim.mouse import VALVES


class World(Protocol):
    """What the device's inputs and outputs reach: the mouse (and, on an imaging rig, the
    microscope's frame clock too: ``rig.sim.scope.ScopeWorld``)."""

    def next_time(self) -> float | None: ...
    def act(self, t: float) -> list[tuple[str, int]]: ...
    def trial_ended(self) -> None: ...
    def water_delivered(self, volume_ul: float) -> None: ...
    def observe(self, t: float, channel: str, value: int, freq_hz: float | None) -> None: ...


class VirtualDevice:
    def __init__(
        self,
        mouse: World,
        volume_ul: Callable[[str, float], float],
        *,
        realtime: bool = False,
        speed: float = 1.0,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, not {speed}")
        self.mouse = mouse
        self.speed = speed
        self.volume_ul = volume_ul
        self.realtime = realtime
        self.executor = ReferenceExecutor()
        self.cycle = 0
        self._reported: dict[str, int] = {}  # each input line's level as the device saw it
        self._valve_open: dict[str, int] = {}
        self._wall_start = time.monotonic()
        self._abort = False
        self._wake = threading.Event()

    @property
    def idle(self) -> bool:
        return self.executor.idle

    @property
    def now_s(self) -> float:
        return self.cycle / CYCLES_PER_S

    def queue(self, machine: StateMachine, trial: int) -> None:
        """Send a trial: it starts as soon as the running one exits, or now when idle."""
        running = self.executor.running
        self.executor.load(machine, trial)
        if not running:
            if self.realtime:  # the idle device's clock went on with the wall's
                self.cycle = max(self.cycle, int(self.wall_s() * CYCLES_PER_S))
            self.executor.start(self.cycle + 1)

    def abort(self) -> list[int]:
        """End the running trial at the next cycle and drop the queued one (as the Bpod's
        ``'X'`` does)."""
        self._abort = self.executor.running
        dropped = self.executor.cancel_queued()
        return [] if dropped is None else [dropped]

    def wall_s(self) -> float:
        return (time.monotonic() - self._wall_start) * self.speed

    def poll(self) -> list[DeviceEvent]:
        """Run to the next cycle with something to report; [] when nothing ever will."""
        if self._abort:
            self._abort = False
            end = self.cycle + 1
            if self.realtime:  # now, on the wall clock (never past the next deadline)
                due = self.executor.next_deadline()
                now = int(self.wall_s() * CYCLES_PER_S)
                end = max(end, now if due is None else min(now, due))
            records = self.executor.force_exit(end)
            if records:
                self.cycle = end
                return self._deliver(records)
        while True:
            deadline = self.executor.next_deadline()
            when = self.mouse.next_time()
            mouse_cycle = (
                None if when is None else max(math.ceil(when * CYCLES_PER_S - 1e-9), self.cycle + 1)
            )
            if deadline is None and (mouse_cycle is None or self.executor.idle):
                return []
            if mouse_cycle is None or (deadline is not None and deadline < mouse_cycle):
                cycle = deadline
            else:
                cycle = mouse_cycle
            assert cycle is not None
            if self.realtime:
                self._wait_for(cycle)  # before anything happens at that cycle
            edges: list[tuple[str, int]] = []
            if cycle == mouse_cycle:
                levels = dict(self.mouse.act(cycle / CYCLES_PER_S))  # last change wins
                for channel, level in levels.items():
                    if level != self._reported.get(channel, 0):
                        self._reported[channel] = level
                        edges.append((channel, level))
            self.cycle = cycle
            records = self.executor.tick(cycle, edges)
            if records:
                return self._deliver(records)

    def interrupt(self) -> None:
        """Make a waiting :meth:`poll` raise :class:`PollInterrupted` now (any thread)."""
        self._wake.set()

    def _wait_for(self, cycle: int) -> None:
        """Pace the simulation: wait until the wall clock reaches ``cycle`` (never a real
        trial's pacing). An interrupt ends the wait with nothing changed on the device."""
        lag = cycle / CYCLES_PER_S - self.wall_s()
        if lag > 0 and self._wake.wait(lag / self.speed):
            self._wake.clear()
            raise PollInterrupted

    def _deliver(self, records: list[Record]) -> list[DeviceEvent]:
        host_t = round(self.wall_s(), 6) if self.realtime else None
        events = []
        for r in records:
            t = r.cycle / CYCLES_PER_S
            if r.kind == "output":
                self._to_world(r, t)
            elif r.kind == "trial_end":
                self.mouse.trial_ended()
            events.append(DeviceEvent(r.trial, r.kind, r.name, t, r.value, r.freq_hz, host_t))
        return events

    def _to_world(self, r: Record, t: float) -> None:
        if r.name in VALVES:
            if r.value:
                self._valve_open[r.name] = r.cycle
            elif r.name in self._valve_open:
                open_s = (r.cycle - self._valve_open.pop(r.name)) / CYCLES_PER_S
                self.mouse.water_delivered(self.volume_ul(VALVES[r.name], open_s))
        self.mouse.observe(t, r.name, r.value, r.freq_hz)
