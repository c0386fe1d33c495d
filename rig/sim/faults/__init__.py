"""Faults injected into a running session, for tests and the reliability figures.

``rig run --fault SPEC`` (and ``session_faults(spec)`` from tests) adds a subscriber to the
session's bus that injects the fault at a chosen point, counted in device events, so a
fault lands at the same place every time for the same seed:

- ``kill-after-events=N``: SIGKILL this process once N device events were recorded (the
  recorder is subscribed first, so the N-th event is in ``events.jsonl``); the session
  stays ``running`` and ``rig resume`` continues it;
- ``enospc-after-events=N``: from then on every write of the session's files fails with
  ENOSPC (the disk is full); the session stops as ``crashed`` and names the error;
- ``slow-writes-ms=N``: every write of the session's files takes N ms more (a slow or
  failing disk); slow ones are counted in ``session.json`` ``slow_writes`` and logged.

What each fault does to the rig, and the tests that show it: ``docs/reliability.md``.
"""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Callable

from rig.bus import Bus, DeviceEvents

FAULTS = ("kill-after-events", "enospc-after-events", "slow-writes-ms")


def session_faults(spec: str) -> Callable[[Bus], None]:
    """An observer for ``run_session`` that injects the fault ``spec`` (``NAME=N``)."""
    name, _, value = spec.partition("=")
    if name not in FAULTS or not value.isdigit() or int(value) < 1:
        raise ValueError(f"fault {spec!r}: use one of {', '.join(f + '=N' for f in FAULTS)}")
    after = int(value)
    seen = [0]
    if name == "slow-writes-ms":
        return lambda bus: _slow_the_disk(after / 1000)

    def on_events(batch: DeviceEvents) -> None:
        seen[0] += len(batch.events)
        if seen[0] < after:
            return
        if name == "kill-after-events":
            os.write(2, f"fault: SIGKILL after {seen[0]} device events\n".encode())
            os.kill(os.getpid(), signal.SIGKILL)
        else:
            _fill_the_disk()

    def attach(bus: Bus) -> None:
        bus.subscribe(DeviceEvents, on_events)

    return attach


def _fill_the_disk() -> None:
    """Every later append to the session's files fails as on a full disk."""
    from rig.session import recorder

    def full(fd: int, data: bytes) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    recorder.append_all = full


def _slow_the_disk(seconds: float) -> None:
    """Every later append to the session's files takes ``seconds`` more."""
    import time

    from rig.session import recorder

    write = recorder.append_all

    def slow(fd: int, data: bytes) -> None:
        time.sleep(seconds)
        write(fd, data)

    recorder.append_all = slow
