"""Resuming an interrupted session in its own folder (``rig resume SESSION_DIR``).

Everything is restored from the session's own files, nothing from memory. Nothing is
changed before every check passed: :func:`resume_point` only reads (and refuses a folder
whose lock another live process holds, naming it: :mod:`rig.session.lock`); the session's
recorder takes the folder's lock and only then calls :meth:`ResumePoint.apply`, which
makes the files appendable (a last line cut short by the kill in ``events.jsonl``,
``trials.jsonl`` or ``operator.jsonl`` is cut off, and kept in ``session.json``) and
appends the recovered trials' lines. What the resume restores:

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
from rig.schema.hardware import HardwareConfig
from rig.schema.protocol import Protocol
from rig.session.calibrations import hardware_at, newer_calibrations, rig_config_now
from rig.session.deadtime import recorded_gap
from rig.session.history import parse_records, read_json, read_records, replay
from rig.session.lock import SessionHeld, holder
from rig.session.operator import edits_in, with_edits
from rig.task.context import Position

if TYPE_CHECKING:
    from rig.session.session import SessionRequest

RESUMABLE = ("running", "crashed", "aborted")
SESSION_FILES = ("session.json", "events.jsonl", "trials.jsonl", "operator.jsonl", "plans.jsonl")
CUT_FILES = ("events.jsonl", "trials.jsonl", "operator.jsonl")  # a last line cut short: cut
VIRTUAL_GAP_S = 1.0  # the gap put between the two parts of a session on virtual time


class ResumeError(ValueError):
    """A session folder that cannot be resumed (the message names the file and why)."""


@dataclass
class ResumePoint:
    """Where an interrupted session goes on, computed from its files without changing
    them; :meth:`apply` makes the changes the resume needs, once every check passed."""

    session_dir: Path
    meta: dict[str, Any]
    protocol: Protocol
    position: Position
    records: list[dict[str, Any]]
    first_trial: int  # the number of the first trial run after the resume
    clock_offset_s: float
    hand_water_ul: float
    entry: dict[str, Any] = field(default_factory=dict)  # appended to session.json resumes
    recovered: list[dict[str, Any]] = field(default_factory=list)  # for trials.jsonl
    keep_bytes: dict[str, int] = field(default_factory=dict)  # file -> length without its cut line
    seen: dict[str, tuple[int, int] | None] = field(default_factory=dict)  # each file as read

    def apply(self) -> None:
        """Make the files appendable: cut off the last lines cut short, append the
        recovered trials' lines. Called by the session's recorder once it holds the
        folder's lock and the session's start passed every check; refused if a file
        changed since it was read (the resume would rest on what is no longer there)."""
        changed = [n for n, seen in self.seen.items() if _stat(self.session_dir / n) != seen]
        if changed:
            raise ResumeError(
                f"{self.session_dir}: {', '.join(changed)} changed since the resume was "
                "prepared; resume it again"
            )
        for name, keep in self.keep_bytes.items():
            with (self.session_dir / name).open("r+b") as f:
                f.truncate(keep)
                f.flush()
                os.fsync(f.fileno())
        if self.recovered:
            lines = b"".join(
                json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in self.recovered
            )
            with (self.session_dir / "trials.jsonl").open("ab") as f:
                f.write(lines)
                f.flush()
                os.fsync(f.fileno())


def resume_point(session_dir: Path, now: dt.datetime | None = None) -> ResumePoint:
    """Check that ``session_dir`` can be resumed and compute where it goes on; no file is
    changed (:meth:`ResumePoint.apply` does that, when the session starts)."""
    meta_file = session_dir / "session.json"
    if not meta_file.exists():
        raise ResumeError(f"{meta_file}: no such file; is {session_dir} a session folder?")
    held = holder(session_dir)
    if held is not None:
        raise ResumeError(str(SessionHeld(session_dir, held)))
    seen = {name: _stat(session_dir / name) for name in SESSION_FILES}
    meta = read_json(meta_file)
    status = meta.get("status")
    if status not in RESUMABLE:
        raise ResumeError(f"{meta_file}: status {status!r}: only {', '.join(RESUMABLE)} resume")
    now = now or dt.datetime.now().astimezone()
    events_file = session_dir / "events.jsonl"
    mtime = events_file.stat().st_mtime if events_file.exists() else now.timestamp()
    wall_gap = max(0.0, now.timestamp() - mtime)  # since the last event was written
    complete, cut, keep = {}, {}, {}
    for name in CUT_FILES:
        complete[name], cut[name] = _complete_lines(session_dir / name)
        if cut[name]:
            keep[name] = len(complete[name])
    records = parse_records(session_dir / "trials.jsonl", complete["trials.jsonl"].decode())
    events = parse_records(events_file, complete["events.jsonl"].decode())
    operator = parse_records(session_dir / "operator.jsonl", complete["operator.jsonl"].decode())
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
    water, still_open = _water_of(events, set(interrupted), meta)
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
        recovered=recovered,
        keep_bytes=keep,
        seen=seen,
    )


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_size, st.st_mtime_ns


def _recover(
    session_dir: Path,
    meta: dict[str, Any],
    records: list[dict[str, Any]],
    events: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """The records of trials that ended on the device (``trial_end`` in ``events.jsonl``)
    but have no line in ``trials.jsonl`` (the stop came in between): rebuilt from their
    events and their plan in ``plans.jsonl``, as the session would have (appended by
    :meth:`ResumePoint.apply`)."""
    from rig.task.outcome import summarize_trial
    from rig.task.spec import TrialSpec

    plans = {int(p["trial"]): p for p in read_records(session_dir / "plans.jsonl")}
    done = {int(r["trial"]) for r in records} | set(meta.get("aborted_trials", []))
    by_trial: dict[int, list[DeviceEvent]] = {}
    for e in events:
        by_trial.setdefault(int(e["trial"]), []).append(_device_event(e))
    ends = {r["trial"]: r["t_end"] for r in records}
    hand = _hand_machines(by_trial.get(0, []))
    spec_fields = {f.name for f in dataclasses.fields(TrialSpec)}
    out: list[dict[str, Any]] = []
    for trial in sorted(by_trial):
        evs = by_trial[trial]
        if trial == 0 or trial in done or trial not in plans or evs[-1].kind != "trial_end":
            continue
        plan = plans[trial]
        before = [t for t in ends if t < trial]
        gap = recorded_gap(ends[max(before)] if before else None, evs[0].t, hand)
        record = summarize_trial(
            TrialSpec(**{k: v for k, v in plan.items() if k in spec_fields}),
            plan["modality"], plan["stimulus"], evs, sm_hash=plan["sm_hash"],
            dead_time_ms=gap.dead_ms, volume_ul=hardware_at(meta, trial).delivered_ul,
            paused_ms=gap.paused_ms, hand_ms=gap.hand_ms,
        )  # fmt: skip
        record["recovered_by_resume"] = True
        ends[trial] = record["t_end"]
        out.append(record)
    return out


def _hand_machines(events: list[DeviceEvent]) -> list[tuple[float, float]]:
    """(start, end) device times of the hand drops and flushes (trial 0's machines)."""
    starts = [e.t for e in events if e.kind == "trial_start"]
    ends = [e.t for e in events if e.kind == "trial_end"]
    return list(zip(starts, ends, strict=False))


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
    events: list[dict[str, Any]], trials: set[int], meta: dict[str, Any]
) -> tuple[float, list[str]]:
    """The water the valves gave in ``trials`` (from their events, by the calibration each
    trial ran with), and the valves still open at the last event (the host stopped
    mid-drop)."""
    from rig.session.hand import VALVE_SIDES

    opened: dict[str, float] = {}
    water = 0.0
    for e in events:
        if e["kind"] != "output" or e["name"] not in VALVE_SIDES or e["trial"] not in trials:
            continue
        if e.get("value", 0):
            opened[e["name"]] = float(e["t"])
        elif e["name"] in opened:
            open_s = round(float(e["t"]) - opened.pop(e["name"]), 4)
            water += hardware_at(meta, e["trial"]).delivered_ul(VALVE_SIDES[e["name"]], open_s)
    return water, sorted(opened)


def _complete_lines(path: Path) -> tuple[bytes, str]:
    """The file's complete lines, and a last line without its newline (the kill came
    mid-write), which the resume cuts off."""
    if not path.exists():
        return b"", ""
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return data, ""
    keep = data.rfind(b"\n") + 1
    return data[:keep], data[keep:].decode("utf-8", errors="replace")


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
    session_dir: Path,
    trials: int | None,
    seed: int | None,
    realtime: bool = False,
    rig_now: HardwareConfig | None = None,
) -> SessionRequest:
    """The request that continues ``session_dir``: its own protocol (with the operator's
    edits) and hardware snapshots, its subject and data folder; ``trials`` more trials, by
    default what was left of those requested; a fresh ``seed`` unless given. A valve
    calibrated since, in ``rig_now`` (default: the session's hardware config file as it is
    now), is used from the first resumed trial, and recorded with a warning
    (:mod:`rig.session.calibrations`)."""
    import random

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
    newer, warnings = newer_calibrations(meta, rig_now or rig_config_now(meta))
    if newer:
        point.entry["valves"] = newer
    if warnings:
        point.entry["warnings"] = warnings
    hardware = hardware_at({**meta, "resumes": [*meta.get("resumes", []), point.entry]},
                           point.first_trial)  # fmt: skip
    return SessionRequest(
        protocol=point.protocol,
        hardware=hardware,
        subject=meta["subject"],
        trials=trials,
        seed=seed if seed is not None else random.SystemRandom().randrange(2**31),
        data_dir=session_dir.resolve().parent.parent,
        operator=meta.get("operator", ""),
        realtime=realtime,
        resume=point,
    )
