"""A bound on the water given by hand: queued drops and flushes cannot add up.

Each ``drop`` and ``flush`` is checked when it is taken, against what the same valve was
given by hand (or is queued to be given) in the last minute, on the host's clock:

- open time: at most :data:`OPEN_S_PER_MINUTE` per valve (one longest flush a minute), so
  N flushes queued in a row no longer give N x 10 s of open valve;
- drops: at most :data:`DROPS_PER_MINUTE` per valve.

A command over the bound is refused with when it would fit (and recorded as refused).
The water given by hand is counted from the valves' own open and close on the device, by
the calibration: a drop's, and a flush's too (``given_ul`` holds both; ``flushed_ul`` the
flushes' part, so a summary can say how much was flush). The manual panel outside a
session (:mod:`rig.control.manual`) keeps one of these for the rig, bound and count alike.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from rig.bus import DeviceEvent
from rig.session.operator import MAX_FLUSH_S, OperatorError

VALVE_SIDES = {"valve_left": "left", "valve_right": "right"}

WINDOW_S = 60.0
OPEN_S_PER_MINUTE = MAX_FLUSH_S
DROPS_PER_MINUTE = 10


class HandWater:
    def __init__(self, volume_ul: Callable[[str, float], float]) -> None:
        """``volume_ul(side, open_s)``: what an opening gives, by the calibration."""
        self._given: deque[tuple[float, str, float, bool]] = deque()  # (t, valve, s, drop)
        self._volume_ul = volume_ul
        self._opened: dict[str, float] = {}
        self.given_ul = 0.0  # every opening by hand: drops, flushes, timed openings
        self.flushed_ul = 0.0  # the flushes' part of it

    def count(self, event: DeviceEvent, action: str) -> float:
        """Water by hand, from a valve's own open and close in the events of a hand
        ``action`` (``drop``, ``flush``, or the manual panel's ``open``); the volume an
        opening gave once it closes (else 0)."""
        if event.kind != "output" or event.name not in VALVE_SIDES:
            return 0.0
        if event.value:
            self._opened[event.name] = event.t
            return 0.0
        if event.name not in self._opened:
            return 0.0
        open_s = round(event.t - self._opened.pop(event.name), 4)
        volume = self._volume_ul(VALVE_SIDES[event.name], open_s)
        self.given_ul += volume
        if action == "flush":
            self.flushed_ul += volume
        return volume

    def take(self, action: str, valves: tuple[str, ...], open_s: float, now: float) -> None:
        """Count ``open_s`` of each of ``valves`` at ``now``, or raise :class:`OperatorError`
        (nothing counted) if a valve would pass its bound."""
        while self._given and self._given[0][0] <= now - WINDOW_S:
            self._given.popleft()
        drop = action == "drop"
        for valve in valves:
            mine = [(t, s, d) for t, v, s, d in self._given if v == valve]
            used = sum(s for _, s, _ in mine)
            if used + open_s > OPEN_S_PER_MINUTE + 1e-9:
                raise OperatorError(
                    f"{action}: {valve} was opened by hand (or is queued to be) for "
                    f"{used:.2f} s in the last minute; {open_s:g} s more passes the bound of "
                    f"{OPEN_S_PER_MINUTE:g} s a minute: {self._wait(mine, now)}"
                )
            drops = [entry for entry in mine if entry[2]]
            if drop and len(drops) >= DROPS_PER_MINUTE:
                raise OperatorError(
                    f"drop: {len(drops)} drops from {valve} in the last minute, the bound is "
                    f"{DROPS_PER_MINUTE} a minute: {self._wait(drops, now)}"
                )
        for valve in valves:
            self._given.append((now, valve, open_s, drop))

    @staticmethod
    def _wait(given: list[tuple[float, float, bool]], now: float) -> str:
        return f"try again in {max(0.0, given[0][0] + WINDOW_S - now):.0f} s"
