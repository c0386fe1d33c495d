"""One session on a rig, from the command line's arguments to the closing summary.

:func:`run_session` creates the session folder, snapshots the protocol and hardware
config, finds where the subject stands in the curriculum (from its last session of the
same protocol), runs the trials and writes the summary. On the simulated rig the subject's
simulated mouse is loaded from, and saved back to, ``<data_dir>/<subject>/sim_mouse.json``
(:mod:`rig.sim.subject`) so it keeps what it learned from one session to the next.

How a session ended is recorded in its summary as ``ended_by`` (:data:`ENDED_BY`), and its
status follows: its trials all run or the operator's stop are a normal end (``completed``);
the operator's abort and a terminating signal cut it short (``aborted``, which
``rig resume`` continues).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rig
from rig.bus import Bus, OperatorActed, SessionEnded, SessionStarted, TrialCompleted
from rig.devices.base import Device
from rig.schema.hardware import HardwareConfig
from rig.schema.protocol import Protocol
from rig.session.day import earlier_water_ul
from rig.session.devices import is_virtual, open_device
from rig.session.history import check_subject_id, last_position
from rig.session.imaging import FrameQC, ScopeSession
from rig.session.operator import Inbox
from rig.session.planner import TrialPlanner
from rig.session.preflight import require_ready
from rig.session.recorder import SessionRecorder, make_dirs, sync_dir, write_json_atomic
from rig.session.resume import ResumePoint, ShiftedClock
from rig.session.runner import RunResult, SessionRunner
from rig.signals import handled_signals
from rig.sim.brain import Brain
from rig.sim.scanimage import release
from rig.sim.scope import acquire, acquisition_start, scope_settings
from rig.sim.subject import SIM_MOUSE_FILE, load_or_create_mouse
from rig.subjects.registry import Registry, RegistryError
from rig.task.context import Position
from rig.task.stats import RollingStats

log = logging.getLogger(__name__)

# How a session ended (``summary.ended_by``) -> its status.
ENDED_BY = {
    "trials": "completed",  # its trials at most were all run
    "operator": "completed",  # the operator's stop: after the running trial
    "abort": "aborted",  # the operator's abort: the running trial cut short
    "signal": "aborted",  # a terminating signal (SIGTERM, SIGINT, ...) or the controller's end
}
SIGNAL_STOP = {"ended_by": "signal"}  # a stop command's args when a signal sent it


@dataclass(frozen=True)
class SessionRequest:
    protocol: Protocol
    hardware: HardwareConfig
    subject: str
    trials: int
    seed: int
    data_dir: Path
    operator: str = ""
    protocol_path: str = ""
    hardware_path: str = ""
    realtime: bool = False
    weight_g: float | None = None
    notes: str = ""
    fsync_each_trial: bool | None = None  # None: yes, unless on virtual time
    speed: float = 1.0  # the simulated rig in real time: this many times faster
    start_step: int | None = None  # override the curriculum's position (with a reason)
    override_reason: str = ""
    fov: str = ""  # the imaging field of view, as the lab names it
    started_at: dt.datetime | None = None  # the calendar of simulated days (tests); None: now
    resume: ResumePoint | None = None  # continue this interrupted session in its folder


@dataclass
class SessionOutcome:
    session_dir: Path
    status: str
    summary: dict[str, Any]


def new_session_dir(subject_dir: Path, now: dt.datetime) -> Path:
    """Create the session's folder, named after its start (``-002``, ``-003``, ... when the
    name is taken, which sorts in order with the first). Each name is tried with a
    ``mkdir`` that fails if the folder exists, so two processes never get one folder. The
    new entry is durable at once: the subject folder is fsynced (and the data folder, when
    the subject folder is new)."""
    base = now.strftime("%Y%m%d-%H%M%S")
    make_dirs(subject_dir)
    n = 1
    while True:
        candidate = subject_dir / (base if n == 1 else f"{base}-{n:03d}")
        try:
            candidate.mkdir()
        except FileExistsError:
            n += 1
            continue
        sync_dir(subject_dir)
        return candidate


def stop_on_signals(stop: Callable[[], None]) -> AbstractContextManager[None]:
    """Every terminating signal (SIGHUP, SIGINT, SIGTERM, ...: :mod:`rig.signals`) stops
    the session between trials (see ``SessionRunner.request_stop``); main thread only."""
    return handled_signals(stop)


def run_session(
    request: SessionRequest,
    observers: Sequence[Callable[[Bus], None]] = (),
    inbox: Inbox | None = None,
) -> SessionOutcome:
    require_ready(request.protocol, request.hardware)
    subject_dir = request.data_dir.expanduser() / check_subject_id(request.subject)
    rng = random.Random(request.seed)
    hardware = request.hardware
    brain = load_or_create_mouse(
        subject_dir / SIM_MOUSE_FILE,
        request.protocol,
        hardware,
        random.Random(f"{request.subject}/{request.seed}"),
    )
    resume = request.resume
    position = resume.position if resume else last_position(subject_dir, request.protocol.name)
    if request.start_step is not None:
        if not request.override_reason.strip():
            raise ValueError("starting at another curriculum step needs a reason")
        position = Position(step=request.start_step)
    planner = TrialPlanner(request.protocol, request.hardware, rng, position)
    stats = RollingStats()
    for record in resume.records if resume else []:  # what the selection and the stats knew
        planner.selector.record(record["instructed"], record["outcome"], record["free_drop_given"])
        stats.add(record)
    virtual = is_virtual(hardware) and not request.realtime
    with open_device(
        hardware,
        brain,
        rng,
        realtime=request.realtime,
        speed=request.speed,
        scope_seed=request.seed,
    ) as opened:
        device: Device = opened if resume is None else ShiftedClock(opened, resume.clock_offset_s)
        bus = Bus()
        bus.subscribe(TrialCompleted, lambda e: stats.add(e.record))
        started = request.started_at or dt.datetime.now().astimezone()
        shift = started - dt.datetime.now().astimezone()  # 0 unless on a simulated calendar
        session_dir = resume.session_dir if resume else new_session_dir(subject_dir, started)
        scope = None
        if hardware.scope.kind == "bridge":  # refuses here, before any file, if required
            try:
                scope = ScopeSession(hardware.scope, session_dir.name, request.subject,
                                     required=hardware.require_scope)  # fmt: skip
            except BaseException:
                if resume is None:
                    session_dir.rmdir()  # the new folder, still empty
                raise
        if resume is None:
            metadata = _metadata(request, planner, brain, started, virtual)
        else:
            metadata = dict(resume.meta)
            metadata.setdefault("resumes", []).append({**resume.entry, "seed": request.seed})
        recorder = SessionRecorder(
            session_dir,
            metadata,
            fsync_each_trial=not virtual
            if request.fsync_each_trial is None
            else request.fsync_each_trial,
            resume=resume,
        )
        recorder.attach(bus)
        if scope is not None:
            scope.attach(bus)
        frame_qc = None
        if hardware.scope.kind != "none":
            frame_qc = FrameQC(hardware.scope.frame_rate_hz)
            frame_qc.attach(bus)
        stops: list[dict[str, Any]] = []  # the stop commands' args, first first
        bus.subscribe(OperatorActed, lambda e: stops.append(e.args) if e.action == "stop" else None)
        for observe in observers:
            observe(bus)
        day = dt.datetime.fromisoformat(str(metadata["start_time"])).date()
        earlier = earlier_water_ul(subject_dir, day, exclude=recorder.dir)
        bus.publish(
            SessionStarted(
                str(recorder.dir),
                request.subject,
                request.protocol.name,
                planner.tracker.label,
                _live_info(request, planner, earlier),
            )
        )
        runner = SessionRunner(
            device,
            planner,
            bus,
            max_trials=request.trials,
            volume_ul=hardware.delivered_ul,
            inbox=inbox,
            first_trial=resume.first_trial if resume else 1,
        )
        starts: list[tuple[float, float]] = []  # (t_start, t_end) of each trial, for the scope
        bus.subscribe(
            TrialCompleted, lambda e: starts.append((e.record["t_start"], e.record["t_end"]))
        )
        status, ended = "crashed", ""
        signalled: list[bool] = []

        def on_signal() -> None:
            signalled.append(True)
            runner.request_stop()

        try:
            with stop_on_signals(on_signal):
                result = runner.run()
            ended = ended_by(result, bool(signalled), stops[0] if stops else None)
            status = ENDED_BY[ended]
        finally:
            scope_info: dict[str, Any] | None = None
            if scope is not None:
                scope_info = scope.finish(status)
            else:
                scope_info = _image(hardware, recorder.dir, starts, request.seed)
            if scope_info is not None and frame_qc is not None:
                scope_info["frame_qc"] = frame_qc.summary()
            summary = {
                **stats.snapshot(),
                "end_label": planner.tracker.label,
                "hand_water_ul": round(
                    runner.hand_water_ul + (resume.hand_water_ul if resume else 0.0), 3
                ),
                **_interrupted_water(recorder.metadata),
                **({"ended_by": ended} if ended else {}),
            }
            recorder.finish(
                status,
                {
                    "end_time": (dt.datetime.now().astimezone() + shift).isoformat(
                        timespec="seconds"
                    ),
                    "end_position": planner.tracker.position.to_json(),
                    "summary": summary,
                    "scope": scope_info,
                    "subscriber_failures": [
                        f"{f.subscriber} on {f.event}: {f.error}" for f in bus.failures
                    ],
                },
            )
            subject_dir.mkdir(parents=True, exist_ok=True)
            write_json_atomic(subject_dir / SIM_MOUSE_FILE, brain.to_json())
            _index(request.data_dir.expanduser(), recorder.dir)
            bus.publish(SessionEnded(status, summary))
    return SessionOutcome(recorder.dir, status, summary)


def ended_by(result: RunResult, signalled: bool, first_stop: dict[str, Any] | None) -> str:
    """How the run ended (a key of :data:`ENDED_BY`): ``signalled`` if a terminating signal
    reached this process during it; ``first_stop`` the args of its first stop command (a
    controller that is shut down sends :data:`SIGNAL_STOP`)."""
    if result.aborted:
        return "abort"
    if not result.stopped_early:
        return "trials"
    if signalled or (first_stop or {}).get("ended_by") == SIGNAL_STOP["ended_by"]:
        return "signal"
    return "operator"


def _interrupted_water(metadata: dict[str, Any]) -> dict[str, float]:
    """A resumed session's water in the trials its stops interrupted (not in ``water_ul``,
    which counts the trials in ``trials.jsonl``)."""
    resumes = metadata.get("resumes", [])
    if not resumes:
        return {}
    return {"interrupted_water_ul": round(sum(r["interrupted_water_ul"] for r in resumes), 4)}


def _index(data_dir: Path, folder: Path) -> None:
    """Keep the subject registry current. The session's files are the record: a registry
    that cannot be written is only logged (``rig subjects reindex`` repairs it)."""
    try:
        with Registry(data_dir) as registry:
            registry.index_session(folder)
    except (RegistryError, sqlite3.Error) as exc:
        log.warning("the subject registry was not updated for %s: %s", folder, exc)


def _metadata(
    request: SessionRequest,
    planner: TrialPlanner,
    brain: Brain,
    started: dt.datetime,
    virtual: bool,
) -> dict[str, Any]:
    hardware = request.hardware
    return {
        "subject": request.subject,
        "operator": request.operator,
        "rig": hardware.name,
        "device": hardware.device.model_dump(mode="json"),
        "software_version": rig.__version__,
        "seed": request.seed,
        "trials_requested": request.trials,
        "weight_g": request.weight_g,
        "warnings": hardware.stale_calibrations(started.date())
        + hardware.stale_light_calibrations(started.date()),
        "notes": request.notes,
        "start_time": started.isoformat(timespec="seconds"),
        "protocol_file": request.protocol_path,
        "hardware_file": request.hardware_path,
        "protocol": request.protocol.model_dump(mode="json"),
        "hardware": hardware.model_dump(mode="json"),
        "start_position": planner.tracker.position.to_json(),
        "start_label": planner.tracker.label,
        "override_reason": request.override_reason,
        "fov": request.fov,
        "sim_mouse_start": brain.to_json(),  # with the seed, this session can be rerun
        "virtual_time": virtual,
    }


def _live_info(
    request: SessionRequest, planner: TrialPlanner, earlier_water_today_ul: float
) -> dict[str, Any]:
    """What the live view shows of the session beside its events (``SessionStarted.info``);
    ``earlier_water_today_ul``: what the subject got in its earlier sessions of the day."""
    protocol = request.protocol
    return {
        "rig": request.hardware.name,
        "operator": request.operator,
        "trials": request.trials,
        "steps": protocol.step_labels(),
        "step": planner.tracker.step,
        "criteria": [
            s.advance.percent_correct if s.advance.rule == "criterion" else None
            for s in protocol.curriculum
        ],
        "reward_ul": protocol.reward.volume_ul,
        "water_target_ul": protocol.reward.session_target_ul,
        "earlier_water_today_ul": earlier_water_today_ul,  # trials + by hand, uL
        "virtual_time": is_virtual(request.hardware) and not request.realtime,
        "microscope": {
            "none": "none on this rig",
            "fake": "fake ScanImage (files at the end)",
            "bridge": f"bridge at {request.hardware.scope.endpoint}",
        }[request.hardware.scope.kind],
    }


def _image(
    hardware: HardwareConfig, session_dir: Path, trials: list[tuple[float, float]], seed: int
) -> dict[str, Any] | None:
    """The fake ScanImage's acquisition of the session, written to ``scope/``: from 1 s
    before the first trial (files without aux triggers: from the session's start, the rig
    starting it) to 1 s after the last, the trial-start TTLs on its aux input."""
    scope = hardware.scope
    if scope.kind != "fake" or not trials:
        return None
    settings = scope_settings(scope, session_dir.name)
    start, stop = acquisition_start(settings), trials[-1][1] + 1.0  # the frame clock's frames
    acq = acquire(settings, session_dir / "scope", start, stop, [t for t, _ in trials], seed)
    return {
        "kind": "fake",
        "folder": "scope",
        "files": [p.name for p in acq.files],
        "frames_acquired": len(acq.saved),
        "frames_saved": sum(acq.saved),
        "scanimage_version": release(settings.version),
    }
