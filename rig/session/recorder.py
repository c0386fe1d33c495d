"""The session recorder: append-only session files (the contract in ``docs/data-format.md``).

``<data_dir>/<subject>/<YYYYMMDD-HHMMSS>/``

- ``session.json``: the session's metadata and snapshots; rewritten atomically (write a
  temporary file, fsync, rename) when the session starts, switches context and ends;
- ``events.jsonl``: one line per device event, flushed as the events come;
- ``operator.jsonl``: one line per operator command applied (or refused), synced at once;
- ``trials.jsonl``: one line per completed trial; with ``fsync_each_trial`` (the default
  on real devices and in real time) the trial line and the events before it are on disk
  before the next trial's record is written. On virtual time the simulated session is
  reproducible from its seed and is synced when it ends (``docs/decisions.md``);
- ``plans.jsonl``: one line per trial queued (its plan), synced with ``fsync_each_trial``;
- ``session.lock``: held (``flock``) by the recorder from before its first write to the
  end, with who holds it (:mod:`rig.session.lock`): one process writes a session folder.

The recorder is a critical bus subscriber: if it cannot write, the session stops.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rig import DATA_FORMAT_VERSION
from rig.bus import (
    Bus,
    ContextSwitched,
    DeviceEvent,
    DeviceEvents,
    OperatorActed,
    TrialAborted,
    TrialCompleted,
    TrialQueued,
)
from rig.session.lock import SessionLock

if TYPE_CHECKING:
    from rig.session.resume import ResumePoint

FORMAT_VERSION = DATA_FORMAT_VERSION
SLOW_WRITE_S = 0.1  # an events write slower than this is counted: the disk is in trouble
log = logging.getLogger(__name__)


def sync_dir(path: Path) -> None:
    """Make a folder's entries (new files, renames) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new file.

    The temporary file has a name of its own (``.<name>.<random>.tmp`` beside ``path``):
    two processes replacing one file (two sessions of a subject saving its simulated
    mouse) never write into each other's. It is removed if the write fails."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp's 0o600, as the other session files
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    sync_dir(path.parent)


def make_dirs(path: Path) -> None:
    """``mkdir -p`` whose new folders are durable: the folder holding each folder it
    creates is fsynced (a new subject's folder in the data folder, say)."""
    missing = [p for p in (path, *path.parents) if not p.is_dir()]
    path.mkdir(parents=True, exist_ok=True)
    for created in reversed(missing):
        sync_dir(created.parent)


def append_all(fd: int, data: bytes) -> None:
    """Write every byte (``os.write`` may write fewer than it was given without an error)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


@functools.lru_cache(maxsize=4096)
def _quoted(text: str) -> str:
    return json.dumps(text)


def event_line(event: DeviceEvent) -> bytes:
    """One ``events.jsonl`` line (built by hand: this runs for every device event)."""
    line = (
        f'{{"trial":{event.trial},"kind":"{event.kind}","name":{_quoted(event.name)},'
        f'"t":{event.t!r}'
    )
    if event.kind == "output":
        line += f',"value":{event.value}'
        if event.freq_hz is not None:
            line += f',"freq_hz":{event.freq_hz!r}'
    if event.host_t is not None:
        line += f',"host_t":{event.host_t!r}'
    return (line + "}\n").encode()


class SessionRecorder:
    def __init__(
        self,
        session_dir: Path,
        metadata: dict[str, Any],
        *,
        fsync_each_trial: bool = True,
        resume: ResumePoint | None = None,
    ) -> None:
        """A new session folder (made by ``session.new_session_dir``; made here if it is
        missing), or (``resume``) the existing one, appended to.

        The folder's lock (:mod:`rig.session.lock`) is taken before anything is written
        and held until :meth:`finish`: :class:`~rig.session.lock.SessionHeld` if another
        process writes the folder. A resume changes the files it found
        (:meth:`ResumePoint.apply`) only once the lock is held."""
        self.dir = session_dir
        self.fsync_each_trial = fsync_each_trial
        if resume is None:
            make_dirs(self.dir)
        self.lock = SessionLock.acquire(self.dir)
        try:
            if resume is None:
                if (self.dir / "session.json").exists():
                    raise FileExistsError(f"{self.dir}: already holds a session")
                metadata = {"format_version": FORMAT_VERSION, **metadata}
            else:
                resume.apply()
            self.metadata = {**metadata, "status": "running"}
            self.metadata.setdefault("context_switches", [])
            write_json_atomic(self.dir / "session.json", self.metadata)
            # Unbuffered: every write reaches the OS at once (a crash of this process loses
            # nothing).
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
            self._events = os.open(self.dir / "events.jsonl", flags, 0o644)
            self._trials = os.open(self.dir / "trials.jsonl", flags, 0o644)
            self._operator = os.open(self.dir / "operator.jsonl", flags, 0o644)
            self._plans = os.open(self.dir / "plans.jsonl", flags, 0o644)
            sync_dir(self.dir)
        except BaseException:
            self.lock.release()
            raise

    def attach(self, bus: Bus) -> None:
        bus.subscribe(DeviceEvents, self.on_events, critical=True)
        bus.subscribe(TrialCompleted, self.on_trial, critical=True)
        bus.subscribe(ContextSwitched, self.on_switch, critical=True)
        bus.subscribe(OperatorActed, self.on_operator, critical=True)
        bus.subscribe(TrialAborted, self.on_aborted, critical=True)
        bus.subscribe(TrialQueued, self.on_queued, critical=True)

    def on_queued(self, queued: TrialQueued) -> None:
        """The trial's plan, before it starts: a resume rebuilds the record of a trial that
        ended on the device but whose line the kill kept from ``trials.jsonl``."""
        line = {"trial": queued.trial, "sm_hash": queued.sm_hash, **queued.plan}
        append_all(self._plans, json.dumps(line, separators=(",", ":")).encode() + b"\n")
        if self.fsync_each_trial:  # what a resume needs to rebuild the trial's line
            os.fdatasync(self._plans)

    def on_events(self, batch: DeviceEvents) -> None:
        started = time.monotonic()
        append_all(self._events, b"".join(map(event_line, batch.events)))
        self._timed(time.monotonic() - started)

    def _timed(self, took_s: float) -> None:
        """A write slower than :data:`SLOW_WRITE_S` (a slow or failing disk) is counted in
        ``session.json`` ``slow_writes`` and logged, the first and then every hundredth."""
        if took_s < SLOW_WRITE_S:
            return
        slow = self.metadata.setdefault("slow_writes", {"count": 0, "max_ms": 0.0})
        slow["count"] += 1
        slow["max_ms"] = round(max(slow["max_ms"], took_s * 1000), 1)
        if slow["count"] % 100 == 1:
            log.warning("slow disk: writing events took %.0f ms (%d so far)", took_s * 1000,
                        slow["count"])  # fmt: skip

    def on_trial(self, completed: TrialCompleted) -> None:
        if self.fsync_each_trial:
            os.fdatasync(self._events)
        line = json.dumps(completed.record, separators=(",", ":")).encode() + b"\n"
        append_all(self._trials, line)
        if self.fsync_each_trial:
            os.fdatasync(self._trials)

    def on_operator(self, acted: OperatorActed) -> None:
        line = {
            "action": acted.action,
            "args": acted.args,
            "host_t": acted.host_t,
            "after_trial": acted.after_trial,
        }
        if acted.applies_from is not None:
            line["applies_from"] = acted.applies_from
        line.update(acted.detail)
        append_all(self._operator, json.dumps(line, separators=(",", ":")).encode() + b"\n")
        os.fdatasync(self._operator)  # rare, and what the operator did must not be lost

    def on_aborted(self, aborted: TrialAborted) -> None:
        self.metadata.setdefault("aborted_trials", []).append(aborted.trial)

    def on_switch(self, switch: ContextSwitched) -> None:
        self.metadata["context_switches"].append(
            {
                "after_trial": switch.trial,
                "from": switch.from_label,
                "to": switch.to_label,
                "from_step": switch.from_step,
                "to_step": switch.to_step,
                "completed": switch.completed,
                "trials_in_step": switch.trials_in_step,
                "reason": switch.reason,
            }
        )
        write_json_atomic(self.dir / "session.json", self.metadata)

    def finish(self, status: str, extra: dict[str, Any]) -> None:
        """Sync and close the files, then record the status (even if a sync failed)."""
        self.metadata.update(extra)
        self.metadata["status"] = status
        try:
            for fd in (self._events, self._trials, self._operator, self._plans):
                os.fsync(fd)
        except OSError as exc:
            self.metadata["status"] = "crashed"
            self.metadata.setdefault("errors", []).append(f"sync at the end failed: {exc}")
            raise
        finally:
            for fd in (self._events, self._trials, self._operator, self._plans):
                os.close(fd)
            try:
                write_json_atomic(self.dir / "session.json", self.metadata)
            finally:
                self.lock.release()


def annotate_session(session_dir: Path, fields: dict[str, Any]) -> dict[str, Any]:
    """Add the end-of-session entries (weight after, notes) to a finished session's
    ``session.json``; a running session cannot be annotated (its recorder owns the file)."""
    path = session_dir / "session.json"
    with SessionLock.acquire(session_dir):  # SessionHeld while a process writes the folder
        metadata: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if metadata.get("status") == "running":
            raise ValueError(f"{path}: the session is still running")
        metadata.setdefault("end_annotations", {}).update(fields)
        write_json_atomic(path, metadata)
    return metadata
