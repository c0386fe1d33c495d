"""Resuming an interrupted session in its own folder (``rig resume SESSION_DIR``).

Everything is restored from the session's own files, nothing from memory:

- the files are made appendable: a last line cut short by the kill (``events.jsonl``,
  ``trials.jsonl``, ``operator.jsonl``) is cut off, and kept in ``session.json``;
- the protocol: the snapshot, with the operator's ``set`` edits from ``operator.jsonl``;
- the curriculum position: replayed from ``start_position``, every trial record and the
  operator's switches (:func:`rig.session.history.replayed_position`);
- the trial selection's history (anti-bias, max-same, free-drop counters) and the rolling
  statistics and water: every trial record, told again in order;
- the trial counter: after the highest trial number in ``events.jsonl``. A trial that was
  running when the session stopped keeps its number and its events, and has no line in
  ``trials.jsonl`` (it is listed in ``interrupted_trials``);
- the clock: the device's clock starts again at 0, so every time after the resume is
  shifted by ``clock_offset_s`` = the last recorded time + the gap, and the session's
  times keep increasing.

The resume and its gap are recorded in ``session.json`` ``resumes``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rig.bus import DeviceEvent
from rig.devices.base import Device
from rig.fsm.model import StateMachine
from rig.schema.protocol import Protocol
from rig.session.history import read_json, read_records, replay
from rig.session.operator import edits_in, with_edits
from rig.task.context import Position

if TYPE_CHECKING:
    from rig.session.session import SessionRequest

RESUMABLE = ("running", "crashed", "aborted")
VIRTUAL_GAP_S = 1.0  # the gap put between the two parts of a session on virtual time


class ResumeError(ValueError):
    """A session folder that cannot be resumed (the message names the file and why)."""


@dataclass
class ResumePoint:
    session_dir: Path
    meta: dict[str, Any]
    protocol: Protocol
    position: Position
    records: list[dict[str, Any]]
    first_trial: int  # the number of the first trial run after the resume
    clock_offset_s: float
    hand_water_ul: float
    entry: dict[str, Any] = field(default_factory=dict)  # appended to session.json resumes


def resume_point(session_dir: Path, now: dt.datetime | None = None) -> ResumePoint:
    meta_file = session_dir / "session.json"
    if not meta_file.exists():
        raise ResumeError(f"{meta_file}: no such file; is {session_dir} a session folder?")
    meta = read_json(meta_file)
    status = meta.get("status")
    if status not in RESUMABLE:
        raise ResumeError(f"{meta_file}: status {status!r}: only {', '.join(RESUMABLE)} resume")
    now = now or dt.datetime.now().astimezone()
    events_file = session_dir / "events.jsonl"
    mtime = events_file.stat().st_mtime if events_file.exists() else now.timestamp()
    wall_gap = max(0.0, now.timestamp() - mtime)  # since the last event was written
    cut = {name: _cut_partial_line(session_dir / name) for name in
           ("events.jsonl", "trials.jsonl", "operator.jsonl")}  # fmt: skip
    records = read_records(session_dir / "trials.jsonl")
    events = read_records(session_dir / "events.jsonl")
    operator = read_records(session_dir / "operator.jsonl")
    protocol = with_edits(Protocol.model_validate(meta["protocol"]), edits_in(operator))
    recovered = _recover(session_dir, meta, records, events)
    records = sorted(records + recovered, key=lambda r: int(r["trial"]))
    missing_switches = _switches_to_record(meta, records)
    meta["context_switches"] = meta.get("context_switches", []) + missing_switches
    last_t = max((float(e["t"]) for e in events), default=0.0)
    last_trial = max((int(e["trial"]) for e in events), default=0)
    done = {int(r["trial"]) for r in records}
    aborted = set(meta.get("aborted_trials", []))
    interrupted = [t for t in range(1, last_trial + 1) if t not in done | aborted]
    gap = VIRTUAL_GAP_S if meta.get("virtual_time", False) else wall_gap
    offset = round(last_t + gap, 4)  # on the device's 100 us grid
    hand = sum(float(x.get("volume_ul", 0)) for x in operator if x.get("action") == "drop")
    water, still_open = _water_of(events, set(interrupted), meta["hardware"])
    entry = {
        "resumed_at": now.isoformat(timespec="seconds"),
        "after_trial": max(done, default=0),
        "first_trial": last_trial + 1,
        "interrupted_trials": interrupted,
        "status_before": status,
        "last_t": last_t,
        "gap_s": round(gap, 4),
        "wall_gap_s": round(wall_gap, 3),
        "clock_offset_s": offset,
        "cut_lines": {name: text for name, text in cut.items() if text},
        "recovered_trials": [int(r["trial"]) for r in recovered],
        "recovered_switches": [int(w["after_trial"]) for w in missing_switches],
        "interrupted_water_ul": round(water, 4),
        "valves_open_at_stop": still_open,
    }
    return ResumePoint(
        session_dir=session_dir,
        meta=meta,
        protocol=protocol,
        position=replay(meta, records)[0],
        records=records,
        first_trial=last_trial + 1,
        clock_offset_s=offset,
        hand_water_ul=hand,
        entry=entry,
    )


def _recover(
    session_dir: Path,
    meta: dict[str, Any],
    records: list[dict[str, Any]],
    events: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """The records of trials that ended on the device (``trial_end`` in ``events.jsonl``)
    but have no line in ``trials.jsonl`` (the stop came in between): rebuilt from their
    events and their plan in ``plans.jsonl``, as the session would have, and appended."""
    from rig.schema.hardware import HardwareConfig
    from rig.task.outcome import summarize_trial
    from rig.task.spec import TrialSpec

    plans = {int(p["trial"]): p for p in read_records(session_dir / "plans.jsonl")}
    done = {int(r["trial"]) for r in records} | set(meta.get("aborted_trials", []))
    by_trial: dict[int, list[DeviceEvent]] = {}
    for e in events:
        by_trial.setdefault(int(e["trial"]), []).append(_device_event(e))
    ends = {r["trial"]: r["t_end"] for r in records}
    calibration = HardwareConfig.model_validate(meta["hardware"])
    spec_fields = {f.name for f in dataclasses.fields(TrialSpec)}
    out: list[dict[str, Any]] = []
    for trial in sorted(by_trial):
        evs = by_trial[trial]
        if trial == 0 or trial in done or trial not in plans or evs[-1].kind != "trial_end":
            continue
        plan = plans[trial]
        before = [t for t in ends if t < trial]
        last_end = ends[max(before)] if before else None
        dead = None if last_end is None else round((evs[0].t - last_end) * 1000, 3)
        record = summarize_trial(
            TrialSpec(**{k: v for k, v in plan.items() if k in spec_fields}),
            plan["modality"], plan["stimulus"], evs, sm_hash=plan["sm_hash"],
            dead_time_ms=dead, volume_ul=calibration.delivered_ul,
        )  # fmt: skip
        record["recovered_by_resume"] = True
        ends[trial] = record["t_end"]
        out.append(record)
    if out:
        lines = b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in out)
        with (session_dir / "trials.jsonl").open("ab") as f:
            f.write(lines)
            f.flush()
            os.fsync(f.fileno())
    return out


def _device_event(line: dict[str, Any]) -> DeviceEvent:
    value, freq, host = int(line.get("value", 0)), line.get("freq_hz"), line.get("host_t")
    return DeviceEvent(int(line["trial"]), line["kind"], line["name"], float(line["t"]),
                       value, freq, host)  # fmt: skip


def _switches_to_record(meta: dict[str, Any], records: list[dict[str, Any]]) -> list[Any]:
    """Curriculum switches the records imply that ``session.json`` does not hold yet (the
    stop came before it was rewritten)."""
    seen = {(s["after_trial"], s["to_step"]) for s in meta.get("context_switches", [])}
    return [
        {"after_trial": trial, "from": a.from_label, "to": a.to_label, "from_step": a.from_step,
         "to_step": a.to_step, "completed": a.completed, "trials_in_step": a.trials_in_step,
         "reason": a.reason}
        for trial, a in replay(meta, records)[1]
        if (trial, a.to_step) not in seen
    ]  # fmt: skip


def _water_of(
    events: list[dict[str, Any]], trials: set[int], hardware: dict[str, Any]
) -> tuple[float, list[str]]:
    """The water the valves gave in ``trials`` (from their events, by the calibration),
    and the valves still open at the last event (the host stopped mid-drop)."""
    from rig.schema.hardware import HardwareConfig
    from rig.session.runner import VALVE_SIDES

    calibration = HardwareConfig.model_validate(hardware)
    opened: dict[str, float] = {}
    water = 0.0
    for e in events:
        if e["kind"] != "output" or e["name"] not in VALVE_SIDES or e["trial"] not in trials:
            continue
        if e.get("value", 0):
            opened[e["name"]] = float(e["t"])
        elif e["name"] in opened:
            open_s = round(float(e["t"]) - opened.pop(e["name"]), 4)
            water += calibration.delivered_ul(VALVE_SIDES[e["name"]], open_s)
    return water, sorted(opened)


def _cut_partial_line(path: Path) -> str:
    """Cut off a last line without its newline (the kill came mid-write); return it."""
    if not path.exists():
        return ""
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return ""
    keep = data.rfind(b"\n") + 1
    with path.open("r+b") as f:
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    return data[keep:].decode("utf-8", errors="replace")


class ShiftedClock:
    """A device whose event times (and host times) are shifted by ``offset`` seconds: the
    resumed part of a session continues the session's clock."""

    def __init__(self, device: Device, offset: float) -> None:
        self.device = device
        self.offset = offset

    @property
    def idle(self) -> bool:
        return self.device.idle

    def queue(self, machine: StateMachine, trial: int) -> None:
        self.device.queue(machine, trial)

    def abort(self) -> list[int]:
        return self.device.abort()

    def interrupt(self) -> None:
        self.device.interrupt()

    def poll(self) -> list[DeviceEvent]:
        return [self._shift(e) for e in self.device.poll()]

    def _shift(self, e: DeviceEvent) -> DeviceEvent:
        host = None if e.host_t is None else round(e.host_t + self.offset, 6)
        return dataclasses.replace(e, t=round(e.t + self.offset, 4), host_t=host)

    def __getattr__(self, name: str) -> Any:  # wall_s() and the like of the wrapped device
        return getattr(self.device, name)


def resume_request(
    session_dir: Path, trials: int | None, seed: int | None, realtime: bool = False
) -> SessionRequest:
    """The request that continues ``session_dir``: its own protocol (with the operator's
    edits) and hardware snapshots, its subject and data folder; ``trials`` more trials, by
    default what was left of those requested; a fresh ``seed`` unless given."""
    import random

    from rig.schema.hardware import HardwareConfig
    from rig.session.session import SessionRequest

    point = resume_point(session_dir)
    meta = point.meta
    if trials is None:
        requested = meta.get("trials_requested")
        if requested is None:
            raise ResumeError(
                f"{session_dir / 'session.json'}: no 'trials_requested'; give --trials"
            )
        trials = int(requested) - (point.first_trial - 1)
        if trials < 1:
            raise ResumeError(f"{session_dir}: all {requested} requested trials ran; give --trials")
    return SessionRequest(
        protocol=point.protocol,
        hardware=HardwareConfig.model_validate(meta["hardware"]),
        subject=meta["subject"],
        trials=trials,
        seed=seed if seed is not None else random.SystemRandom().randrange(2**31),
        data_dir=session_dir.resolve().parent.parent,
        operator=meta.get("operator", ""),
        realtime=realtime,
        resume=point,
    )
