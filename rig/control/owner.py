"""One controller per rig: ``<data_dir>/.rig/<rig>/controller.lock``.

``rig serve`` holds an exclusive ``flock`` on the rig's lock file for as long as it runs,
and writes in it who it is and where it listens (``{"pid", "host", "since", "command",
"endpoint"}``). A second ``rig serve`` for the same rig (same name, same data folder)
refuses and names the first; ``rig gui`` reads the file to attach to the running one
instead of starting another. The kernel drops the lock when the process ends, however it
ends, so a dead controller never blocks the next; the file stays (it is never deleted, as
in :mod:`rig.session.lock`). ``flock`` is local to this machine.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from rig.session.lock import LockTaken, i_am, locked_contents, take_lock

LOCK_NAME = "controller.lock"


def rig_folder(data_dir: Path, rig: str) -> Path:
    """The rig's own folder in the data folder (a dot folder: never taken for a subject)."""
    return data_dir.expanduser() / ".rig" / rig


@dataclass(frozen=True)
class Owner:
    """The controller that holds (or last held) a rig."""

    pid: int
    host: str
    since: str
    command: str
    endpoint: str

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} since {self.since}, at {self.endpoint}"


class RigTaken(RuntimeError):
    """The rig already has a controller."""

    def __init__(self, rig: str, owner: Owner | None) -> None:
        where = owner.describe() if owner else "a process that has not said where yet"
        attach = f"; attach to it: rig gui --attach {owner.endpoint}" if owner else ""
        super().__init__(f"rig {rig!r} already has a controller ({where}){attach}")
        self.owner = owner


def _parse(written: bytes) -> Owner | None:
    try:
        d = json.loads(written or b"null")
        return Owner(int(d["pid"]), str(d["host"]), str(d["since"]), str(d["command"]),
                     str(d["endpoint"]))  # fmt: skip
    except (ValueError, TypeError, KeyError):
        return None


class ControllerLock:
    """The rig's lock, held by its controller until :meth:`release` or the process's end."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, data_dir: Path, rig: str, endpoint: str) -> ControllerLock:
        folder = rig_folder(data_dir, rig)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            return cls(take_lock(folder / LOCK_NAME, {**i_am(), "endpoint": endpoint}))
        except LockTaken as taken:
            raise RigTaken(rig, _parse(taken.written)) from None

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __del__(self) -> None:
        self.release()


def running_controller(data_dir: Path, rig: str) -> Owner | None:
    """The rig's live controller (its lock is held), or ``None``."""
    written = locked_contents(rig_folder(data_dir, rig) / LOCK_NAME)
    if written is None:
        return None
    return _parse(written) or Owner(0, "?", "?", "?", "")
