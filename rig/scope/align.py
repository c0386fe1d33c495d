"""Trial-to-frame alignment: which imaging frame each trial epoch began in, per plane.

Two clocks: the rig's device clock (``trials.jsonl``, ``events.jsonl``) and the
microscope's (``frameTimestamps_sec``, ``auxTrigger0``, seconds from the acquisition's
start). The rig's trial-start TTL is stamped by ScanImage into ``auxTrigger0``, so trial
starts give pairs (device t, scope t); a least-squares line through them is the mapping
``scope_t = a + b * device_t`` (offset and drift), and its residual says how well the
clocks agree. If the rig recorded the frame clock (``frame_clock`` inputs), pulse n is
frame number n: pulses without a saved frame (dropped) and frames without a pulse are
reported. Files without aux triggers (3.x, 4.x, 5.0) are aligned by the frame clock
alone: the rig must have recorded it from the acquisition's first frame on (the rig
started the acquisition, or it was started after the session), so pulse n is frame n.

An event's frame is the frame of the last frame-clock pulse before it, when the rig
recorded one within 1.5 frame periods (exact: the pulse is the frame's start on the rig's
own clock); otherwise the last saved frame whose timestamp is not after the event's
fitted scope time, stepped on by the nominal frame period over frames the files lack. For
each plane, the row names that plane's frame at or before the event, by its **movie
frame** (the index analyses use: ``rig.scope.acquisition``) and by ScanImage's frame
number. A frame that was dropped is reported as dropped, never replaced by a neighbour.

``trial_frames.csv`` is one header row and the rows (``pandas.read_csv`` reads it as it
is); the fit, its residual and what the acquisition holds go into ``trial_frames.json``.
"""

from __future__ import annotations

import bisect
import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rig import DATA_FORMAT_VERSION
from rig.scope.acquisition import Acquisition, Frame, load_acquisition
from rig.scope.tiff import ScopeFileError

EPOCHS = ("t_start", "t_sample", "t_delay", "t_go")
COLUMNS = ("trial", "epoch", "plane", "movie_frame", "frame_number", "frame_t", "file", "page",
           "channels", "status")  # fmt: skip


class AlignmentError(ValueError):
    """The session and the files cannot be aligned; the message says why."""


def load_stack(tiff_dir: Path) -> Acquisition:
    files = [p for p in tiff_dir.iterdir() if p.suffix.lower() in (".tif", ".tiff")]
    if not files:
        raise AlignmentError(f"{tiff_dir}: no .tif files")
    try:
        acq = load_acquisition(files)
    except ScopeFileError as exc:
        raise AlignmentError(str(exc)) from None
    if acq.problems:
        raise AlignmentError(f"{tiff_dir}: " + "; ".join(acq.problems))
    if not acq.header.frame_rate_hz:
        raise AlignmentError(f"{files[0]}: no frame rate in the ScanImage metadata")
    return acq


@dataclass
class Fit:
    a: float
    b: float
    residual_max_s: float
    residual_rms_s: float
    pairs: int

    def scope_t(self, device_t: float) -> float:
        return self.a + self.b * device_t


def fit_clocks(device_t: Sequence[float], scope_t: Sequence[float]) -> Fit:
    n = len(device_t)
    if n < 2:
        raise AlignmentError(f"{n} trigger(s) matched: at least 2 are needed to fit the clocks")
    mx, my = sum(device_t) / n, sum(scope_t) / n
    sxx = sum((x - mx) ** 2 for x in device_t)
    b = sum((x - mx) * (y - my) for x, y in zip(device_t, scope_t, strict=True)) / sxx
    a = my - b * mx
    res = [y - (a + b * x) for x, y in zip(device_t, scope_t, strict=True)]
    return Fit(a, b, max(abs(r) for r in res), math.sqrt(sum(r * r for r in res) / n), n)


MATCH_TOLERANCE_S = 0.005  # a trigger is its trial's if within 5 ms of the prediction,
MAX_DRIFT = 200e-6  # plus what the clocks can drift apart in between (200 ppm at most)


def match_triggers(
    trial_starts: Sequence[float], triggers: Sequence[float]
) -> tuple[list[tuple[int, int]], Fit]:
    """Pairs (trial index, trigger index) and the fit through them.

    Triggers can be missing (the acquisition started late or stopped early; a trigger's
    frame was dropped, and its header with it), so they are matched by time, not by
    count: for each trial the first trigger could belong to, the other triggers are
    matched to the trial starts at the same distance (within 5 ms, plus 200 ppm of the
    distance for the clocks' drift); the candidate that
    matches the most wins, then the line is fitted through its pairs."""
    if not triggers:
        raise AlignmentError("no aux triggers in the files: was the trial-start TTL wired?")
    best: list[tuple[int, int]] = []
    for first in range(len(trial_starts)):
        offset = trial_starts[first] - triggers[0]
        pairs = []
        for k, trig in enumerate(triggers):
            want = trig + offset
            tolerance = MATCH_TOLERANCE_S + MAX_DRIFT * abs(trig - triggers[0])
            i = bisect.bisect_left(trial_starts, want - tolerance)
            if i < len(trial_starts) and abs(trial_starts[i] - want) <= tolerance:
                pairs.append((i, k))
        if len(pairs) > len(best):
            best = pairs
        if len(best) == len(triggers):
            break
    if len(best) < max(2, len(triggers) // 2):
        raise AlignmentError(
            f"{len(triggers)} aux triggers, of which {len(best)} match this session's "
            f"{len(trial_starts)} trial starts: the files are not this session's"
        )
    fit = fit_clocks([trial_starts[i] for i, _ in best], [triggers[k] for _, k in best])
    return best, fit


@dataclass
class Alignment:
    fit: Fit
    pairs: list[tuple[int, int]]  # (trial index, trigger index); empty: by the frame clock
    rows: list[dict[str, Any]]
    acquisition: Acquisition
    by: str = "aux triggers"  # what the clocks were fitted through
    dropped: list[int] = field(default_factory=list)  # frame numbers with a pulse, no page
    unpulsed: list[int] = field(default_factory=list)  # frame numbers with a page, no pulse
    frame_clock_pulses: int | None = None


def frame_at(rate_hz: float, times: list[float], numbers: list[int], s: float) -> int:
    """The number of the raw frame during which scope time ``s`` fell: the last saved
    frame that began by ``s``, stepped on by the nominal period over frames the files
    lack, but never to or past the next saved frame."""
    i = bisect.bisect_right(times, s) - 1
    if i < 0:
        return 0  # before the first saved frame
    number = numbers[i] + max(0, int((s - times[i]) * rate_hz))
    if i + 1 < len(numbers):  # the next saved frame began after s: s is in an earlier one
        number = min(number, numbers[i + 1] - 1)
    return number


def _pulse_frames(
    rate_hz: float, times: list[float], numbers: list[int], pulse_scope_t: list[float]
) -> list[int]:
    """The frame number each frame-clock pulse belongs to: the saved frame that began
    within half a period of it, else (a frame the files lack) the number the nominal
    period gives from the nearest saved frame."""
    period = 1.0 / rate_hz
    out = []
    for s in pulse_scope_t:
        i = bisect.bisect_left(times, s)
        near = min((j for j in (i - 1, i) if 0 <= j < len(times)), key=lambda j: abs(times[j] - s))
        out.append(numbers[near] + round((s - times[near]) / period))
    return out


def plane_frame(acq: Acquisition, number: int, plane: int) -> int:
    """The raw frame number of ``plane``'s frame at or before raw frame ``number`` (the
    saved frame holding it, when frames are averaged); 0 if there is none."""
    h, cycle = acq.header, acq.cycle
    if number <= 0:
        return 0
    if h.planes == 1:  # planar: the averaged group holding the frame, named by its last
        return ((number - 1) // cycle + 1) * cycle
    volume, pos = divmod(number - 1, cycle)
    if plane > pos:
        volume -= 1
    return volume * cycle + plane + 1 if volume >= 0 else 0


def _by_frame_clock(acq: Acquisition, pulses: list[float]) -> Fit:
    """The clock fit from the frame clock alone (files without aux triggers): pulse n is
    raw frame n, paired with that frame's time on the scope's clock."""
    if not pulses:
        raise AlignmentError(
            f"ScanImage {acq.header.version} files ({acq.header.generation}) carry no aux "
            "triggers, and the session recorded no frame clock: record the microscope's "
            "frame clock on the rig's frame_clock input to align them"
        )
    last = acq.frames[-1].number
    if len(pulses) > last + 1:
        raise AlignmentError(
            f"{len(pulses)} frame-clock pulses but {last} frames in the files: the pulses "
            "are not this acquisition's"
        )
    pairs = [(pulses[f.number - 1], f.t) for f in acq.frames if f.number <= len(pulses)]
    return fit_clocks([d for d, _ in pairs], [t for _, t in pairs])


def align(session_dir: Path, tiff_dir: Path) -> Alignment:
    records = _read_jsonl(session_dir / "trials.jsonl")
    if not records:
        raise AlignmentError(f"{session_dir / 'trials.jsonl'}: no trials")
    acq = load_stack(tiff_dir)
    rate = float(acq.header.frame_rate_hz or 0)
    starts = [float(r["t_start"]) for r in records]
    pulses = [
        e["t"]
        for e in _read_jsonl(session_dir / "events.jsonl")
        if e["kind"] == "input"
        and e["name"] == "frame_clock"  # onsets: the offs are frame_clock_off
    ]
    index = {f.number: f for f in acq.frames}
    numbers = [f.number for f in acq.frames]
    times = [f.t for f in acq.frames]
    pulse_frames: list[int] = []
    if acq.triggers:
        pairs, fit = match_triggers(starts, acq.triggers)
        result = Alignment(fit, pairs, [], acq)
        if pulses:
            pulse_frames = _pulse_frames(rate, times, numbers, [fit.scope_t(t) for t in pulses])
    elif acq.header.has_aux_triggers and not pulses:
        raise AlignmentError("no aux triggers in the files: was the trial-start TTL wired?")
    else:
        result = Alignment(_by_frame_clock(acq, pulses), [], [], acq, by="frame clock")
        pulse_frames = list(range(1, len(pulses) + 1))
    if pulses:
        result.frame_clock_pulses = len(pulses)
        pulsed = set(pulse_frames)
        result.dropped = sorted(n for n in pulsed if n not in index)
        first, last = min(pulsed), max(pulsed)
        result.unpulsed = [n for n in numbers if first <= n <= last and n not in pulsed]
    period, last_number = 1.0 / rate, numbers[-1]
    channels = " ".join(str(c) for c in acq.header.channels)
    for r in records:
        for epoch in EPOCHS:
            if r.get(epoch) is None:
                continue
            d = float(r[epoch])
            i = bisect.bisect_right(pulses, d) - 1
            if i >= 0 and d - pulses[i] < 1.5 * period:  # the frame clock says, exactly
                number = pulse_frames[i]
            else:  # no pulse there (none recorded, or an outage): the clock fit says
                number = frame_at(rate, times, numbers, result.fit.scope_t(d))
            for plane in range(acq.header.planes):
                result.rows.append(_row(r["trial"], epoch[2:], plane,
                                        plane_frame(acq, number, plane), index, last_number,
                                        channels))  # fmt: skip
    _write(session_dir, result)
    return result


def _row(trial: int, epoch: str, plane: int, n: int, index: dict[int, Frame], last: int,
         channels: str) -> dict[str, Any]:  # fmt: skip
    frame = index.get(n)
    if frame is not None:
        status = "ok"
    else:
        status = "before_start" if n <= 0 else ("after_end" if n > last else "dropped")
    return {
        "trial": trial,
        "epoch": epoch,
        "plane": plane,
        "movie_frame": frame.movie_frame if frame else "",
        "frame_number": n if n > 0 and status != "after_end" else "",
        "frame_t": f"{frame.t:.6f}" if frame else "",
        "file": frame.file if frame else "",
        "page": frame.page if frame else "",
        "channels": channels,
        "status": status,
    }


def summary(result: Alignment) -> dict[str, Any]:
    """What ``trial_frames.json`` holds: the clock fit, the acquisition, its flags."""
    fit, acq, h = result.fit, result.acquisition, result.acquisition.header
    return {
        "format_version": DATA_FORMAT_VERSION,
        "clock_fit": {
            "scope_t": "a + b * device_t",
            "a": fit.a,
            "b": fit.b,
            "drift_ppm": (fit.b - 1) * 1e6,
            "residual_max_ms": fit.residual_max_s * 1000,
            "residual_rms_ms": fit.residual_rms_s * 1000,
            "pairs": fit.pairs,
            "by": result.by,
        },
        "trials_matched": len(result.pairs),
        "acquisition": {
            "scanimage_version": h.version,
            "generation": h.generation,
            "planes": h.planes,
            "flyback_frames": h.flyback,
            "channels": h.channels,
            "averaging": h.averaging,
            "frame_rate_hz": h.frame_rate_hz,
            "volume_rate_hz": acq.volume_rate_hz,
            "frames": len(acq.frames),
            "files": [
                {"name": f.name, "frames": f.frames, "frames_per_plane": f.frames_per_plane}
                for f in acq.files
            ],
        },
        "flags": acq.flags,
        "frame_clock": None
        if result.frame_clock_pulses is None
        else {
            "pulses": result.frame_clock_pulses,
            "dropped_from_files": result.dropped,
            "in_files_without_pulse": result.unpulsed,
        },
        "rows": len(result.rows),
    }


def _write(session_dir: Path, result: Alignment) -> None:
    with (session_dir / "trial_frames.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows(result.rows)
    text = json.dumps(summary(result), indent=1, allow_nan=False)
    (session_dir / "trial_frames.json").write_text(text + "\n")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise AlignmentError(f"{path}: no such file")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
