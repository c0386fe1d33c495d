"""One writer per session folder: ``<session>/session.lock``.

The process that writes a session folder (the session's recorder, a resume, an annotation)
holds an exclusive ``flock`` on ``session.lock`` for as long as it writes, and keeps in the
file who it is (``{"pid", "host", "since", "command"}``) so that a refusal can name it. The
kernel drops the lock when the process ends, however it ends (SIGKILL, a crash), so a lock
is never left behind by a dead process; the file stays, and says who held it last. The
file is never deleted (deleting a lock file while another process opens it would let two
processes hold two different files). ``flock`` is local to one machine: a data folder on a
network share shared by two rigs is not protected by it.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import json
import os
import shlex
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

LOCK_FILE = "session.lock"
RETRY_S = 0.25  # a probe (holder()) holds the lock for microseconds: try again this long


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) a session folder's lock."""

    pid: int
    host: str
    since: str  # wall clock, ISO 8601
    command: str

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} since {self.since} ({self.command})"

    def to_json(self) -> dict[str, object]:
        return {"pid": self.pid, "host": self.host, "since": self.since, "command": self.command}


class SessionHeld(ValueError):
    """The session folder is being written by another process (or another writer here)."""

    def __init__(self, session_dir: Path, holder: Holder | None) -> None:
        who = holder.describe() if holder else "another process (it has not said who yet)"
        super().__init__(f"{session_dir}: still being written by {who}")
        self.session_dir = session_dir
        self.holder = holder


def this_command() -> str:
    argv = list(sys.argv) or ["python"]
    argv[0] = Path(argv[0]).name
    if argv[0] in ("cli.py", "__main__.py", "-m"):
        argv[0] = "rig"
    text = shlex.join(argv)
    return text if len(text) <= 200 else text[:197] + "..."


def _parse(written: bytes) -> Holder | None:
    try:
        data = json.loads(written or b"null")
        return Holder(int(data["pid"]), str(data["host"]), str(data["since"]),
                      str(data.get("command", "")))  # fmt: skip
    except (ValueError, TypeError, KeyError):
        return None


class LockTaken(Exception):
    """Another process holds the lock file; ``written``: what it wrote in it."""

    def __init__(self, written: bytes) -> None:
        super().__init__("the lock is held")
        self.written = written


def take_lock(path: Path, who: dict[str, object]) -> int:
    """An exclusive ``flock`` on ``path`` (made if missing), with ``who`` written in it as
    JSON; the file descriptor holds it. :class:`LockTaken` if another process holds it
    after :data:`RETRY_S` (a probe such as :func:`locked_contents` holds it an instant)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    deadline = time.monotonic() + RETRY_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                os.close(fd)
                raise
            if time.monotonic() >= deadline:
                try:
                    written = os.pread(fd, 4096, 0)
                except OSError:
                    written = b""
                os.close(fd)
                raise LockTaken(written) from None
            time.sleep(0.01)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(who).encode() + b"\n", 0)
    except BaseException:
        os.close(fd)
        raise
    return fd


def i_am() -> dict[str, object]:
    """Who this process is, as a lock file says it: pid, host, since (now), command."""
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "since": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": this_command()}  # fmt: skip


class SessionLock:
    """The session folder's lock, held until :meth:`release` (or the process's end)."""

    def __init__(self, session_dir: Path, fd: int) -> None:
        self.session_dir = session_dir
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, session_dir: Path) -> SessionLock:
        """Take the lock and write who holds it; :class:`SessionHeld` if it is held."""
        try:
            fd = take_lock(session_dir / LOCK_FILE, i_am())
        except LockTaken as taken:
            raise SessionHeld(session_dir, _parse(taken.written)) from None
        return cls(session_dir, fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Let the folder go (closing the file drops the lock); the file keeps who held it."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> SessionLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        self.release()


def locked_contents(path: Path) -> bytes | None:
    """What the process holding ``path``'s ``flock`` wrote in it (``b""`` if nothing yet);
    ``None`` if nobody holds it (or there is no such file). The probe takes a shared lock
    for an instant; it never blocks."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            return os.pread(fd, 4096, 0)
        return None  # free (closing the file below lets it go again)
    finally:
        os.close(fd)


def holder(session_dir: Path) -> Holder | None:
    """Who holds the session folder's lock now; ``None`` if nobody does (or it has none)."""
    written = locked_contents(session_dir / LOCK_FILE)
    if written is None:
        return None
    return _parse(written) or Holder(0, "?", "?", "a process that has not said who yet")
