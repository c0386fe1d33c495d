"""What the bridge does with the rig's acquisition requests.

- :class:`FakeBackend`: the fake ScanImage's acquisition, on the bridge's clock: frames
  counted at the frame rate from the start (``drop_fraction`` of them dropped).
- :class:`FileDropBackend`: for a real ScanImage. Each request is written as
  ``<dir>/request-<id>.json`` (``{"id", "type", "file_stem"}``, written to a temporary
  name and renamed, so a reader never sees half a file); a ScanImage user function polls
  the folder, acts (``hSI.hScan2D.logFileStem``, ``hSI.startGrab()``, ``hSI.abort()``) and
  keeps ``<dir>/status.json`` current (``{"acquiring", "acquisition", "file_stem",
  "frames_acquired", "frames_dropped"}``). See ``docs/scanimage-bridge.md``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rig.sync.messages import (
    Ack,
    Arm,
    Message,
    RemoteError,
    StartAcquisition,
    Status,
    StatusRequest,
)

STATUS_KEYS = ("acquiring", "acquisition", "file_stem", "frames_acquired", "frames_dropped")


class Backend(Protocol):
    def handle(self, request: Message) -> Message: ...


@dataclass
class FakeBackend:
    frame_rate_hz: float = 30.0
    drop_fraction: float = 0.0
    clock: Callable[[], float] = time.monotonic
    acquisition: int = 0
    file_stem: str = ""
    started: float | None = None
    frozen_frames: int = 0  # frames of the last acquisition, once stopped

    def frames(self) -> int:
        if self.started is None:
            return self.frozen_frames
        return int((self.clock() - self.started) * self.frame_rate_hz)

    def handle(self, request: Message) -> Message:
        ref = getattr(request, "id", 0)
        if isinstance(request, Arm):
            if self.started is not None:
                return RemoteError(ref=ref, code="busy", message="acquiring: stop it first")
            self.file_stem = request.file_stem
            return Ack(ref=ref)
        if isinstance(request, StartAcquisition):
            if self.started is None:
                self.acquisition += 1
                self.started = self.clock()
            return Ack(ref=ref)
        if isinstance(request, StatusRequest):
            n = self.frames()
            return Status(ref=ref, acquiring=self.started is not None, acquisition=self.acquisition,
                          file_stem=self.file_stem, frames_acquired=n,
                          frames_dropped=int(n * self.drop_fraction))  # fmt: skip
        # StopAcquisition
        self.frozen_frames, self.started = self.frames(), None
        return Ack(ref=ref)


@dataclass
class FileDropBackend:
    folder: Path

    def handle(self, request: Message) -> Message:
        ref = getattr(request, "id", 0)
        if isinstance(request, StatusRequest):
            path = self.folder / "status.json"
            try:
                s = json.loads(path.read_text())
                return Status(ref=ref, **{k: s[k] for k in STATUS_KEYS})
            except (OSError, ValueError, KeyError, TypeError) as exc:
                return RemoteError(ref=ref, code="no_status", message=f"{path}: {exc}")
        body = {"id": ref, "type": type(request).__name__}
        if isinstance(request, Arm):
            body["file_stem"] = request.file_stem
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".request-{ref}.tmp"
        tmp.write_text(json.dumps(body))
        os.replace(tmp, self.folder / f"request-{ref}.json")
        return Ack(ref=ref)
