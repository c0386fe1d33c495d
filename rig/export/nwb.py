"""One session folder -> one NWB file (``rig export-nwb``).

What goes where (every time in device seconds from the session's start, the NWB file's
``session_start_time`` being ``session.json``'s ``start_time``):

- ``subject``: the subject id, with sex, birth date and genotype from the registry when it
  knows the subject, and the session's weight;
- ``devices``: the rig's controller and each valve (with its calibration);
- ``trials``: one row per line of ``trials.jsonl``, every field (:data:`TRIAL_COLUMNS`;
  ``null`` becomes NaN, ``""`` or -1 as the column's description says), the valve
  openings as ragged columns;
- ``epochs``: one per curriculum step within the session, tagged with its label;
- ``events`` (NWB 2.9's ``EventsTable``, which took in ndx-events): ``licks`` (onset,
  duration, side, trial) and ``device_events`` (every line of ``events.jsonl``, its kinds
  and names as codes with their meanings tables);
- processing module ``behavior``: ``state_machines`` (each distinct machine's hash and its
  canonical JSON, rebuilt and checked by :mod:`rig.export.machines`),
  ``context_switches`` and ``operator_actions``;
- processing module ``ophys``: ``trial_frames`` when ``trial_frames.csv`` exists;
- scratch ``session_json``: the whole ``session.json`` (snapshots of the protocol and the
  hardware config), so nothing the rig wrote is left behind.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import math
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rig.export.events import column, device_events_table, licks_table, num, table
from rig.export.machines import rebuild_machines
from rig.session.history import read_json, read_records


class ExportError(ValueError):
    """A session folder that cannot be exported (the message names the file and field)."""


def _text(value: Any) -> str:
    return "" if value is None else str(value)


# name, description, value from one trials.jsonl record
TRIAL_COLUMNS: tuple[tuple[str, str, Callable[[dict[str, Any]], Any]], ...] = (
    ("trial", "1-based trial number within the session", lambda r: int(r["trial"])),
    ("context", "context name in the protocol", lambda r: r["context"]),
    ("context_label", "the curriculum step's label (T1' for a return)",
     lambda r: r["context_label"]),
    ("prime", "0 the first time in a context, 1 for the first return, ...",
     lambda r: int(r["prime"])),
    ("modality", "tactile or auditory", lambda r: r["modality"]),
    ("stimulus", "anterior, posterior, high or low", lambda r: r["stimulus"]),
    ("instructed", "the side the stimulus instructs: left or right", lambda r: r["instructed"]),
    ("stage", "shaping stage; '' for the protocol's own numbers", lambda r: _text(r["stage"])),
    ("outcome", "hit, error or no_response (the device's decision state)",
     lambda r: r["outcome"]),
    ("early_lick", "at least one early lick", lambda r: bool(r["early_lick"])),
    ("early_lick_count", "lick onsets in the sample and delay epochs",
     lambda r: int(r["early_lick_count"])),
    ("free_drop", "planned with a free drop", lambda r: bool(r["free_drop"])),
    ("free_drop_given", "the free drop's valve opened", lambda r: bool(r["free_drop_given"])),
    ("aborted", "EarlyLickAbort was entered", lambda r: bool(r["aborted"])),
    ("first_lick_side", "side of the first lick after the go cue; '' if none",
     lambda r: _text((r["first_lick"] or {}).get("side"))),
    ("first_lick_time", "first lick after the go cue (s); NaN if none",
     lambda r: num((r["first_lick"] or {}).get("t"))),
    ("first_lick_latency", "first lick - go cue (s); NaN if none",
     lambda r: num(r["first_lick_latency_s"])),
    ("response_side", "side the decision state implies; '' for no_response",
     lambda r: _text(r["response_side"])),
    ("sample_time", "onset of the last sample epoch (s); NaN if none",
     lambda r: num(r["t_sample"])),
    ("delay_time", "onset of the last delay epoch (s); NaN if none",
     lambda r: num(r["t_delay"])),
    ("go_cue_time", "go cue onset (s); NaN if the trial ended before it",
     lambda r: num(r["t_go"])),
    ("delay_duration", "the delay timer of this trial (s)", lambda r: float(r["delay_s"])),
    ("reward_volume", "water from reward openings (uL)", lambda r: float(r["reward_ul"])),
    ("free_drop_volume", "water from free-drop openings (uL)",
     lambda r: float(r["free_drop_ul"])),
    ("dead_time", "ms the rig itself took from the previous trial's end to this start "
     "(pauses and hand drops or flushes excluded); NaN for the first trial and when the "
     "whole gap was a pause or hand time", lambda r: num(r["dead_time_ms"])),
    ("paused_before", "ms of the gap before this trial the device was idle because the "
     "operator paused (0 if none)", lambda r: float(r.get("paused_ms", 0.0))),
    ("hand_before", "ms of the gap before this trial taken by hand drops or flushes and the "
     "wait to queue this trial after them (0 if none)", lambda r: float(r.get("hand_ms", 0.0))),
    ("sm_hash", "the state machine's hash (processing/behavior/state_machines)",
     lambda r: r["sm_hash"]),
    ("frames", "frame-clock pulses during the trial", lambda r: int(r.get("frames", 0))),
)  # fmt: skip
# ragged columns, one entry per valve opening: name, description, key in "valves" (plural
# names: nwbinspector takes a column ending in "_time" for one time per row)
VALVE_COLUMNS = (
    ("valve_sides", "side of each valve opening", "side"),
    ("valve_times", "each valve opening's onset (s)", "t"),
    ("valve_open_durations", "each opening as the device measured it (s)", "open_s"),
    ("valve_volumes", "each opening's water from the calibration (uL)", "volume_ul"),
    ("valve_reasons", "reward or free_drop", "reason"),
)


def default_output(session_dir: Path) -> Path:
    return session_dir / f"{session_dir.parent.name}_{session_dir.name}.nwb"


def export_session(session_dir: Path, out: Path | None = None) -> Path:
    """Write ``session_dir`` as an NWB file (default: ``<subject>_<session>.nwb`` inside it)."""
    from pynwb import NWBHDF5IO  # imported here: `rig` runs without the nwb extra

    out = out or default_output(session_dir)
    nwbfile = build_nwbfile(session_dir)
    tmp = out.with_name(f".{out.name}")  # renamed when complete
    with NWBHDF5IO(str(tmp), "w") as io:
        io.write(nwbfile)
    tmp.replace(out)
    return out


def build_nwbfile(session_dir: Path) -> Any:
    from pynwb import NWBFile, ProcessingModule
    from pynwb.file import Subject

    meta = read_json(session_dir / "session.json")
    for key in ("subject", "start_time", "protocol", "hardware", "status"):
        if key not in meta:
            raise ExportError(f"{session_dir / 'session.json'}: no {key!r}")
    records = read_records(session_dir / "trials.jsonl")
    events = read_records(session_dir / "events.jsonl")
    operator = read_records(session_dir / "operator.jsonl")
    summary = meta.get("summary") or {}
    start = dt.datetime.fromisoformat(meta["start_time"])
    notes = [meta.get("notes", ""), (meta.get("end_annotations") or {}).get("notes", "")]
    nwbfile = NWBFile(
        session_description=(
            f"{meta['protocol'].get('name', '?')}: delayed directional licking, "
            f"{meta.get('start_label', '?')} -> {summary.get('end_label', '?')}, "
            f"{len(records)} trials, session {meta['status']}"
            + (f"; imaging field of view {meta['fov']}" if meta.get("fov") else "")
        ),
        identifier=str(uuid.uuid5(uuid.NAMESPACE_URL, f"rig:{meta['subject']}/{session_dir.name}")),
        session_start_time=start,
        timestamps_reference_time=start,
        session_id=session_dir.name,
        experimenter=[meta["operator"]] if meta.get("operator") else None,
        notes="\n".join(n for n in notes if n) or None,
        experiment_description=meta["protocol"].get("description") or None,
        keywords=["delayed directional licking", "head-fixed mouse", "behavior"],
        source_script=f"rig {meta.get('software_version', '?')} (rig export-nwb)",
        source_script_file_name="rig",
    )
    nwbfile.subject = Subject(**_subject(session_dir, meta))
    _devices(nwbfile, meta)
    _trials(nwbfile, records, session_dir / "trials.jsonl")
    _epochs(nwbfile, records, meta.get("context_switches", []))
    nwbfile.add_events_table(licks_table(events))
    nwbfile.add_events_table(device_events_table(events))
    task = ProcessingModule(name="behavior", description="how the trials were run")
    nwbfile.add_processing_module(task)
    _task_tables(task, meta, records, operator)
    frames = session_dir / "trial_frames.csv"
    if frames.exists():
        imaging = ProcessingModule(name="ophys", description="trials aligned to imaging frames")
        nwbfile.add_processing_module(imaging)
        imaging.add(_trial_frames(frames))
    nwbfile.add_scratch(
        json.dumps(meta, sort_keys=True),
        name="session_json",
        description="session.json as the rig wrote it (protocol and hardware snapshots)",
    )
    return nwbfile


def _subject(session_dir: Path, meta: dict[str, Any]) -> dict[str, Any]:
    from rig.subjects.registry import DB_NAME, Registry

    details: dict[str, Any] = {}
    data_dir = session_dir.resolve().parent.parent
    if (data_dir / DB_NAME).exists():
        with Registry(data_dir) as registry:
            details = registry.subject(meta["subject"]) or {}
    sex = str(details.get("sex") or "U")[:1].upper()
    weight = (meta.get("end_annotations") or {}).get("weight_g", meta.get("weight_g"))
    birth = details.get("birth_date")
    return {
        "subject_id": meta["subject"],
        "species": "Mus musculus",
        "sex": sex if sex in "MFUO" else "U",
        "genotype": details.get("genotype") or None,
        "description": details.get("notes") or None,
        "weight": f"{weight} g" if weight is not None else None,
        "date_of_birth": (
            dt.datetime.fromisoformat(birth).replace(tzinfo=dt.UTC) if birth else None
        ),
    }


def _devices(nwbfile: Any, meta: dict[str, Any]) -> None:
    hardware = meta["hardware"]
    device = meta.get("device") or hardware.get("device", {})
    nwbfile.create_device(
        name=hardware.get("name", "rig"),
        description=(
            f"{hardware.get('description', '')} (controller {device.get('kind', '?')} at "
            f"{device.get('url', '?')})"
        ),
    )
    for name, valve in sorted((hardware.get("valves") or {}).items()):
        points = ", ".join(f"{p['open_s']} s -> {p['volume_ul']} uL" for p in valve["points"])
        nwbfile.create_device(
            name=name,
            description=f"water valve calibrated {valve.get('date')}: {points}; "
            f"max open {valve.get('max_open_s')} s",
        )


def _trials(nwbfile: Any, records: list[dict[str, Any]], path: Path) -> None:
    for name, description, _ in TRIAL_COLUMNS:
        nwbfile.add_trial_column(name=name, description=description)
    for name, description, _ in VALVE_COLUMNS:
        nwbfile.add_trial_column(name=name, description=description, index=True)
    for line, record in enumerate(records, 1):
        try:
            row = {name: value(record) for name, _, value in TRIAL_COLUMNS}
            for name, _, key in VALVE_COLUMNS:
                row[name] = [v[key] for v in record["valves"]]
            times = {"start_time": record["t_start"], "stop_time": record["t_end"]}
        except KeyError as exc:
            raise ExportError(f"{path}:{line}: no field {exc}") from None
        except (TypeError, ValueError) as exc:
            raise ExportError(f"{path}:{line}: {exc}") from None
        nwbfile.add_trial(**times, **row)


def _epochs(nwbfile: Any, records: list[dict[str, Any]], switches: list[dict[str, Any]]) -> None:
    """One epoch per curriculum step the session ran, split at its switches."""
    bounds = sorted({int(s["after_trial"]) for s in switches if not s.get("completed")})
    spans: list[list[dict[str, Any]]] = [[]]
    for record in records:
        if bounds and record["trial"] > bounds[0]:
            bounds.pop(0)
            spans.append([])
        spans[-1].append(record)
    for span in (s for s in spans if s):
        labels = [span[0]["context_label"], span[0]["context"]]
        nwbfile.add_epoch(start_time=span[0]["t_start"], stop_time=span[-1]["t_end"], tags=labels)


def _task_tables(
    task: Any, meta: dict[str, Any], records: list[dict[str, Any]], operator: list[Any]
) -> None:
    task.add(_machines_table(meta, records, operator))
    switches = meta.get("context_switches", [])
    columns = [
        column(key, f"context_switches[].{key}", [s[key] for s in switches], dtype)
        for key, dtype in SWITCH_COLUMNS
    ]
    task.add(table("context_switches", "session.json's context_switches", columns))
    columns = [
        column("action", "pause, resume, stop, abort, drop, flush, switch, set, note",
                [x["action"] for x in operator], str),
        column("host_time", "host seconds from the runner's start",
                [x["host_t"] for x in operator], float),
        column("after_trial", "the last completed trial when it was applied",
                [x["after_trial"] for x in operator], int),
        column("line", "the whole line as JSON", [json.dumps(x) for x in operator], str),
    ]  # fmt: skip
    task.add(table("operator_actions", "operator.jsonl, one row a line", columns))


def _machines_table(
    meta: dict[str, Any], records: list[dict[str, Any]], operator: list[Any]
) -> Any:
    from hdmf.common import VectorIndex

    machines = rebuild_machines(meta, records, operator)
    hashes = list(machines.definitions)
    runs = [t for h in hashes for t in machines.trials[h]]
    trials = column("trials", "the trials that ran it", runs, int)
    ends = list(itertools.accumulate(len(machines.trials[h]) for h in hashes))
    definitions = [machines.definitions[h] for h in hashes]
    columns = [
        column("sm_hash", "16 hex digits of the SHA-256 of the canonical JSON", hashes, str),
        column("definition", "canonical JSON of the state machine", definitions, str),
        trials,
        VectorIndex(name="trials_index", data=ends, target=trials),
    ]
    return table(
        "state_machines",
        "each distinct state machine of the session: its hash (the trials' sm_hash) and its "
        "canonical JSON ('' when it could not be rebuilt and checked against the hash)",
        columns,
    )


SWITCH_COLUMNS = (
    ("after_trial", int), ("from", str), ("to", str), ("from_step", int), ("to_step", int),
    ("completed", bool), ("trials_in_step", int), ("reason", str),
)  # fmt: skip


TRIAL_FRAME_COLUMNS = ("trial", "epoch", "plane", "movie_frame", "frame_number", "frame_t",
                       "file", "page", "channels", "status")  # fmt: skip


def _trial_frames(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        first = f.readline()
        if first.startswith("#"):
            raise ExportError(
                f"{path}:1: a trial_frames.csv of format version 2 (a '#' line first): run "
                "`rig align` on the session again"
            )
        f.seek(0)
        rows = list(csv.DictReader(f))
    sidecar = path.with_suffix(".json")
    try:
        fit = json.loads(sidecar.read_text(encoding="utf-8"))["clock_fit"]
        about = (f"scope_t = {fit['a']:.9f} + {fit['b']:.12f} * device_t, by {fit['by']}; "
                 f"residual max {fit['residual_max_ms']:.4f} ms")  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ExportError(f"{sidecar}: the clock fit cannot be read: {exc}") from None
    names = TRIAL_FRAME_COLUMNS
    ints = ("trial", "plane", "movie_frame", "frame_number", "page")
    data: dict[str, list[Any]] = {name: [] for name in names}
    for number, row in enumerate(rows, 2):
        try:
            for k in names:
                if k in ints:
                    data[k].append(int(row[k]) if row[k] != "" else -1)
                elif k == "frame_t":
                    data[k].append(float(row[k]) if row[k] != "" else math.nan)
                else:
                    data[k].append(row[k])
        except (KeyError, ValueError, TypeError) as exc:
            raise ExportError(f"{path}:{number}: field {exc}") from None
    return table(
        "trial_frames",
        f"trial_frames.csv ({about})",
        [column(k, f"trial_frames.csv {k} (-1, NaN or '' when empty)", data[k]) for k in names],
    )
