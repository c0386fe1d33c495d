"""Trial-to-frame alignment: which imaging frame each trial epoch began in, per plane.

Two clocks: the rig's device clock (``trials.jsonl``, ``events.jsonl``) and the
microscope's (``frameTimestamps_sec``, ``auxTrigger0``, seconds from the acquisition's
start). The rig's trial-start TTL is stamped by ScanImage into ``auxTrigger0``, so trial
starts give pairs (device t, scope t); a least-squares line through them is the mapping
``scope_t = a + b * device_t`` (offset and drift), and its residual says how well the
clocks agree. If the rig recorded the frame clock (``frame_clock`` inputs), pulse n is
frame number n: pulses without a saved frame (dropped) and frames without a pulse are
reported.

An event's frame is the frame of the last frame-clock pulse before it, when the rig
recorded one within 1.5 frame periods (exact: the pulse is the frame's start on the rig's
own clock); otherwise the last saved frame whose timestamp is not after the event's
fitted scope time, stepped on by the nominal frame period over frames the files lack. A
frame that was dropped is reported as dropped, never replaced by a neighbour.
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

from rig.scope.tiff import ScopeFileError, frame_headers, read_scope_file

EPOCHS = ("t_start", "t_sample", "t_delay", "t_go")


class AlignmentError(ValueError):
    """The session and the files cannot be aligned; the message says why."""


@dataclass(frozen=True)
class Frame:
    number: int  # ScanImage's frameNumbers (1-based, counts every plane)
    t: float  # scope seconds from the acquisition's start
    file: str
    page: int  # 0-based page of the frame's first channel in its file


@dataclass
class Stack:
    frames: list[Frame]
    planes: int
    frame_rate_hz: float
    triggers: list[float]  # auxTrigger0 times, scope seconds from the acquisition's start
    version: str


def load_stack(tiff_dir: Path) -> Stack:
    files = sorted(p for p in tiff_dir.iterdir() if p.suffix.lower() in (".tif", ".tiff"))
    if not files:
        raise AlignmentError(f"{tiff_dir}: no .tif files")
    frames: list[Frame] = []
    triggers: list[float] = []
    planes, rate, version = 1, 0.0, ""
    for path in files:
        if not rate:  # the file metadata, once (it is the same in every file)
            first = read_scope_file(path, headers=False)
            planes, version, rate = first.planes, first.version, first.frame_rate_hz or 0.0
        seen: set[int] = set()
        for page, (number, stamp, aux) in enumerate(frame_headers(path)):
            if number in seen:
                continue  # the same frame's other channels
            seen.add(number)
            frames.append(Frame(number, stamp, path.name, page))
            triggers += aux
    if rate <= 0:
        raise AlignmentError(f"{files[0]}: no frame rate in the ScanImage metadata")
    frames.sort(key=lambda f: f.number)
    return Stack(frames, planes, rate, sorted(set(triggers)), version)


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
    pairs: list[tuple[int, int]]  # (trial index, trigger index)
    rows: list[dict[str, Any]]
    dropped: list[int] = field(default_factory=list)  # frame numbers with a pulse, no page
    unpulsed: list[int] = field(default_factory=list)  # frame numbers with a page, no pulse
    frame_clock_pulses: int | None = None


def frame_at(stack: Stack, times: list[float], numbers: list[int], s: float) -> int:
    """The number of the frame (any plane) during which scope time ``s`` fell: the last
    saved frame that began by ``s``, stepped on by the nominal period over frames the files
    lack, but never to or past the next saved frame."""
    i = bisect.bisect_right(times, s) - 1
    if i < 0:
        return 0  # before the first saved frame
    number = numbers[i] + max(0, int((s - times[i]) * stack.frame_rate_hz))
    if i + 1 < len(numbers):  # the next saved frame began after s: s is in an earlier one
        number = min(number, numbers[i + 1] - 1)
    return number


def _pulse_frames(
    stack: Stack, times: list[float], numbers: list[int], pulse_scope_t: list[float]
) -> list[int]:
    """The frame number each frame-clock pulse belongs to: the saved frame that began
    within half a period of it, else (a frame the files lack) the number the nominal
    period gives from the nearest saved frame."""
    period = 1.0 / stack.frame_rate_hz
    out = []
    for s in pulse_scope_t:
        i = bisect.bisect_left(times, s)
        near = min((j for j in (i - 1, i) if 0 <= j < len(times)), key=lambda j: abs(times[j] - s))
        out.append(numbers[near] + round((s - times[near]) / period))
    return out


def align(session_dir: Path, tiff_dir: Path) -> Alignment:
    records = _read_jsonl(session_dir / "trials.jsonl")
    if not records:
        raise AlignmentError(f"{session_dir / 'trials.jsonl'}: no trials")
    try:
        stack = load_stack(tiff_dir)
    except ScopeFileError as exc:
        raise AlignmentError(str(exc)) from None
    starts = [float(r["t_start"]) for r in records]
    pairs, fit = match_triggers(starts, stack.triggers)
    index = {f.number: f for f in stack.frames}
    numbers = sorted(index)
    times = [index[n].t for n in numbers]
    pulses = [
        e["t"]
        for e in _read_jsonl(session_dir / "events.jsonl")
        if e["kind"] == "input" and e["name"] == "frame_clock"
    ]
    result = Alignment(fit, pairs, [])
    pulse_frames: list[int] = []
    if pulses:
        result.frame_clock_pulses = len(pulses)
        pulse_frames = _pulse_frames(stack, times, numbers, [fit.scope_t(t) for t in pulses])
        pulsed = set(pulse_frames)
        result.dropped = sorted(n for n in pulsed if n not in index)
        first, last = min(pulsed), max(pulsed)
        result.unpulsed = [n for n in numbers if first <= n <= last and n not in pulsed]
    period = 1.0 / stack.frame_rate_hz
    for r in records:
        for epoch in EPOCHS:
            if r.get(epoch) is None:
                continue
            d = float(r[epoch])
            i = bisect.bisect_right(pulses, d) - 1
            if i >= 0 and d - pulses[i] < 1.5 * period:  # the frame clock says, exactly
                number = pulse_frames[i]
            else:  # no pulse there (none recorded, or an outage): the clock fit says
                number = frame_at(stack, times, numbers, fit.scope_t(d))
            for plane in range(stack.planes):
                n = number - ((number - 1 - plane) % stack.planes) if number > 0 else 0
                frame = index.get(n)
                result.rows.append(
                    {
                        "trial": r["trial"],
                        "epoch": epoch[2:],
                        "plane": plane + 1,
                        "frame": n if n > 0 else "",
                        "file": frame.file if frame else "",
                        "page": frame.page if frame else "",
                        "status": "ok" if frame else ("dropped" if n > 0 else "before_start"),
                    }
                )
    _write(session_dir / "trial_frames.csv", result)
    return result


def _write(path: Path, result: Alignment) -> None:
    with path.open("w", newline="") as f:
        f.write(
            f"# scope_t = {result.fit.a:.9f} + {result.fit.b:.12f} * device_t; "
            f"residual max {result.fit.residual_max_s * 1000:.4f} ms, "
            f"rms {result.fit.residual_rms_s * 1000:.4f} ms over {result.fit.pairs} triggers; "
            f"{len(result.pairs)} trials matched to a trigger\n"
        )
        writer = csv.DictWriter(f, ["trial", "epoch", "plane", "frame", "file", "page", "status"])
        writer.writeheader()
        writer.writerows(result.rows)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise AlignmentError(f"{path}: no such file")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
