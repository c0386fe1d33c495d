"""The session recorder: append-only session files (the contract in ``docs/data-format.md``).

``<data_dir>/<subject>/<YYYYMMDD-HHMMSS>/``

- ``session.json``: the session's metadata and snapshots; rewritten atomically (write a
  temporary file, fsync, rename) when the session starts, switches context and ends;
- ``events.jsonl``: one line per device event, flushed as the events come;
- ``trials.jsonl``: one line per completed trial; the trial line and the events before it
  are fsynced before the next trial's record is written.

The recorder is a critical bus subscriber: if it cannot write, the session stops.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TextIO

from rig.bus import Bus, ContextSwitched, DeviceEvent, TrialCompleted

FORMAT_VERSION = 1


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def event_line(event: DeviceEvent) -> str:
    line: dict[str, Any] = {
        "trial": event.trial,
        "kind": event.kind,
        "name": event.name,
        "t": event.t,
    }
    if event.kind == "output":
        line["value"] = event.value
        if event.freq_hz is not None:
            line["freq_hz"] = event.freq_hz
    if event.host_t is not None:
        line["host_t"] = event.host_t
    return json.dumps(line, separators=(",", ":")) + "\n"


class SessionRecorder:
    def __init__(self, session_dir: Path, metadata: dict[str, Any]) -> None:
        self.dir = session_dir
        self.dir.mkdir(parents=True, exist_ok=False)
        self.metadata = {"format_version": FORMAT_VERSION, **metadata, "status": "running"}
        self.metadata.setdefault("context_switches", [])
        write_json_atomic(self.dir / "session.json", self.metadata)
        self._events: TextIO = (self.dir / "events.jsonl").open("a", encoding="utf-8")
        self._trials: TextIO = (self.dir / "trials.jsonl").open("a", encoding="utf-8")

    def attach(self, bus: Bus) -> None:
        bus.subscribe(DeviceEvent, self.on_event, critical=True)
        bus.subscribe(TrialCompleted, self.on_trial, critical=True)
        bus.subscribe(ContextSwitched, self.on_switch, critical=True)

    def on_event(self, event: DeviceEvent) -> None:
        self._events.write(event_line(event))
        self._events.flush()

    def on_trial(self, completed: TrialCompleted) -> None:
        os.fsync(self._events.fileno())
        self._trials.write(json.dumps(completed.record, separators=(",", ":")) + "\n")
        self._trials.flush()
        os.fsync(self._trials.fileno())

    def on_switch(self, switch: ContextSwitched) -> None:
        self.metadata["context_switches"].append(
            {
                "after_trial": switch.trial,
                "from": switch.from_label,
                "to": switch.to_label,
                "trials_in_step": switch.trials_in_step,
                "reason": switch.reason,
            }
        )
        write_json_atomic(self.dir / "session.json", self.metadata)

    def finish(self, status: str, extra: dict[str, Any]) -> None:
        self.metadata.update(extra)
        self.metadata["status"] = status
        for f in (self._events, self._trials):
            f.flush()
            os.fsync(f.fileno())
            f.close()
        write_json_atomic(self.dir / "session.json", self.metadata)
