"""The fake ScanImage: an acquisition on its own clock, written as ScanImage TIFFs.

The microscope's clock runs apart from the rig's: ``scope_t = offset_s + (1 + drift_ppm *
1e-6) * device_t``. Raw frames come every ``1 / frame_rate_hz`` of the scope's clock
(ScanImage's scanFrameRate), with a Gaussian ``jitter_s`` on each timestamp (and
``trigger_jitter_s`` on each aux-trigger stamp). Each raw frame is one plane of a volume of
``planes + flyback_frames`` frames (a fast stack; planes == 1: planar), or one of
``averaging`` raw frames averaged into one saved frame (planar only). A fraction
``drop_fraction`` of raw frames is acquired (its frame-clock pulse goes out) but not saved:
its frame number is missing from the files (with averaging the whole group it belonged to
is lost: frameNumbers then steps by 2A). The rig's trial-start TTL reaches the aux trigger
input: its time, on the scope's clock and from the acquisition's start, is stamped into
``auxTrigger0`` of the raw frame during which it came, in the generations that have aux
triggers (:func:`rig.sim.scanimage.carries_aux_triggers`). An averaged page carries the
description of the LAST raw frame of its group (the logger writes the current frame's), so
its auxTrigger0 holds only that frame's triggers: those of the frames averaged away are lost.

Flyback frames are written (zero pages with their own headers; frameNumbers counts
through them). Files are split every ``frames_per_file`` frames (page groups: all channels
of one frame; counted as :mod:`rig.sim.scanimage` says per generation), so a file can end
mid-volume; their names and headers are each generation's (:mod:`rig.sim.scanimage`).
``ground_truth.json`` beside them holds, for tests, the device time of every raw frame,
whether it is in the files, the true clock parameters, and per saved frame in file order
``pages``: [file index, page in file of its first channel, frameNumbers, plane (0-based,
-1 for flyback), volume (0-based, from the counters: frame // volume length; planar: the
saved-frame index frame // averaging, so dropped frames leave gaps)].
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rig.schema.hardware import Scope
from rig.sim.scanimage import (
    VERSIONS,
    Layout,
    carries_aux_triggers,
    counts_saved_frames,
    family,
    file_name,
    file_text,
    frame_lines,
    release,
    static_header,
)
from rig.sim.scanimage_tiff import write_tiff

__all__ = ["VERSIONS", "ScopeSettings", "acquire", "acquisition_start", "carries_aux_triggers",
           "scope_settings"]  # fmt: skip


@dataclass(frozen=True)
class ScopeSettings:
    frame_rate_hz: float = 30.0  # scanFrameRate: raw frames per second
    planes: int = 5  # S, the planes imaged (1: planar)
    channels: tuple[int, ...] = (1,)  # channelSave order
    offset_s: float = 0.0  # scope clock at device time 0
    drift_ppm: float = 0.0
    jitter_s: float = 0.0
    trigger_jitter_s: float = 0.0  # on the aux-trigger stamps
    drop_fraction: float = 0.0
    frames_per_file: int = 1000
    version: str = "2016+"  # a ScanImage release (VERSIONS), or an alias of one
    outage: tuple[float, float] | None = None  # device seconds with no frames at all (tests)
    width: int = 8
    height: int = 8
    stem: str = "rig"
    flyback_frames: int = 0  # B per volume, written to the files (fast stack only)
    averaging: int = 1  # A raw frames per saved frame (planar only)
    configured_slices: int | None = None  # a stack configured but disabled (planes == 1)
    header_channels: tuple[int, ...] | None = None  # the header's channelSave, if not channels


START_DEVICE_T = -1.0  # the fake microscope is started a second before the session
# files without aux triggers (3.x, 4.x, 5.0, 5.1) are aligned by the frame clock alone, so
# there the rig starts the acquisition, just after the session's clock (as rigs of that
# era triggered it): the rig records every frame's pulse from the first on
RIG_STARTED_DEVICE_T = 0.01


def acquisition_start(settings: ScopeSettings) -> float:
    """The device time the fake microscope starts acquiring for a session."""
    return START_DEVICE_T if carries_aux_triggers(settings.version) else RIG_STARTED_DEVICE_T


@dataclass(frozen=True)
class Acquisition:
    frame_device_t: list[float]  # every frame acquired (frame number k + 1 at index k)
    saved: list[bool]  # False: dropped (not in the files)
    files: list[Path]


def scope_time(settings: ScopeSettings, device_t: float) -> float:
    return settings.offset_s + (1 + settings.drift_ppm * 1e-6) * device_t


def device_time(settings: ScopeSettings, scope_t: float) -> float:
    return (scope_t - settings.offset_s) / (1 + settings.drift_ppm * 1e-6)


def _stamp(settings: ScopeSettings, rng: random.Random, k: int) -> float:
    """Frame k's timestamp (scope seconds from the acquisition's start), jittered."""
    return k / settings.frame_rate_hz + rng.gauss(0.0, settings.jitter_s)


class FrameClock:
    """The fake ScanImage's frame-clock TTL on the device clock: a 1 ms pulse at the start
    of every frame, the same frames (same seed, same draws) that :func:`acquire` writes."""

    PULSE_S = 0.001

    def __init__(self, settings: ScopeSettings, start_device_t: float, seed: int) -> None:
        self.settings = settings
        self.rng = random.Random(seed)
        self.acq_start = scope_time(settings, start_device_t)
        self.k = 0
        self._edges: list[tuple[float, int]] = []
        self._next_frame()

    def _next_frame(self) -> None:
        while True:
            t = device_time(self.settings, self.acq_start + _stamp(self.settings, self.rng, self.k))
            self.k += 1
            if not _in_outage(self.settings, t):
                break
        self._edges += [(t, 1), (t + self.PULSE_S, 0)]

    def next_time(self) -> float:
        return self._edges[0][0]

    def act(self, t: float) -> list[tuple[str, int]]:
        out = []
        while self._edges[0][0] <= t:
            out.append(("frame_clock", self._edges.pop(0)[1]))
            if len(self._edges) < 2:
                self._next_frame()
        return out


class ScopeWorld:
    """The mouse, with the microscope's frame clock on the ``frame_clock`` input."""

    def __init__(self, mouse: Any, clock: FrameClock) -> None:
        self.mouse, self.clock = mouse, clock

    def next_time(self) -> float | None:
        when = self.mouse.next_time()
        return self.clock.next_time() if when is None else min(when, self.clock.next_time())

    def act(self, t: float) -> list[tuple[str, int]]:
        changes: list[tuple[str, int]] = self.mouse.act(t)
        return changes + self.clock.act(t)

    def trial_ended(self) -> None:
        self.mouse.trial_ended()

    def water_delivered(self, volume_ul: float) -> None:
        self.mouse.water_delivered(volume_ul)

    def observe(self, t: float, channel: str, value: int, freq_hz: float | None) -> None:
        self.mouse.observe(t, channel, value, freq_hz)


def _in_outage(settings: ScopeSettings, device_t: float) -> bool:
    return settings.outage is not None and settings.outage[0] <= device_t < settings.outage[1]


def check(s: ScopeSettings) -> None:
    """Refuse settings ScanImage could not have written (ValueError naming the problem)."""
    fam = family(s.version)  # raises for an unknown version
    if s.planes < 1 or s.flyback_frames < 0 or s.averaging < 1 or not s.channels:
        raise ValueError("planes >= 1, flyback_frames >= 0, averaging >= 1, a channel")
    if s.flyback_frames and s.planes == 1:
        raise ValueError("flyback_frames need a fast stack (planes > 1)")
    if s.averaging > 1 and s.planes > 1:
        raise ValueError("averaging is planar only (planes == 1): no averaging in stacks")
    if s.flyback_frames and fam == "3":
        raise ValueError("ScanImage 3.x has no fast z, so no flyback frames")
    if s.configured_slices is not None:
        if s.planes != 1 or s.configured_slices < 1:
            raise ValueError("configured_slices (a disabled stack) needs planes == 1")
        if fam in ("3", "4", "5.0"):
            raise ValueError(
                f"ScanImage {release(s.version)} has no disabled stack: a slice count > 1 "
                "acquires a stack there"
            )


def _written(
    s: ScopeSettings, acquired: list[bool]
) -> tuple[list[tuple[int, int, int]], list[bool]]:
    """The page groups written, as (last raw frame, plane, volume), and per raw frame
    whether it is in the files. Averaging: a group of A raw frames is written on its A-th
    frame, and only if none of its frames was lost; a trailing partial group is not."""
    n, a, per = len(acquired), s.averaging, s.planes + s.flyback_frames
    groups: list[tuple[int, int, int]] = []
    saved = [False] * n
    if a > 1:
        for j in range(n // a):
            if all(acquired[j * a : j * a + a]):
                groups.append((j * a + a - 1, 0, j))
                saved[j * a : j * a + a] = [True] * a
        return groups, saved
    for k in range(n):
        if acquired[k]:
            pos = k % per
            if s.planes > 1:
                groups.append((k, pos if pos < s.planes else -1, k // per))
            else:
                groups.append((k, 0, k))
            saved[k] = True
    return groups, saved


def acquire(
    settings: ScopeSettings,
    out_dir: Path,
    start_device_t: float,
    stop_device_t: float,
    triggers_device_t: Sequence[float],
    seed: int = 0,
) -> Acquisition:
    """Acquire from ``start_device_t`` to ``stop_device_t`` (device seconds) and write the
    files; ``triggers_device_t`` are the rig's trial-start TTLs."""
    s = settings
    check(s)
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    period = 1.0 / s.frame_rate_hz
    acq_start = scope_time(s, start_device_t)  # the scope's clock at its own start
    n = int((scope_time(s, stop_device_t) - acq_start) / period)
    stamps = [_stamp(s, rng, k) for k in range(n)]  # FrameClock draws the same
    kept = [rng.random() >= s.drop_fraction for _ in range(n)]
    trigger_rng = random.Random(f"{seed}/triggers")  # apart: the frame clock redraws stamps
    triggers = sorted(
        scope_time(s, t) - acq_start + trigger_rng.gauss(0.0, s.trigger_jitter_s)
        for t in triggers_device_t
    )
    aux: dict[int, list[float]] = {}
    if carries_aux_triggers(s.version):
        for t in triggers:  # the raw frame during which the trigger came
            aux.setdefault(min(max(int(t / period), 0), n - 1), []).append(round(t, 9))
    frame_device_t = [device_time(s, acq_start + t) for t in stamps]
    acquired = [ok and not _in_outage(s, t) for ok, t in zip(kept, frame_device_t, strict=True)]
    groups, saved = _written(s, acquired)
    lay = Layout(
        s.version, s.header_channels or s.channels, s.planes, s.flyback_frames, s.averaging,
        s.configured_slices, s.frame_rate_hz, s.frames_per_file, n, s.width, s.height, s.stem,
    )  # fmt: skip
    static, fam, step = static_header(lay), family(s.version), 1
    if not counts_saved_frames(s.version):
        step = s.averaging  # the older loggers count raw frames per file
    files: list[Path] = []
    descriptions: list[str | None] = []
    truth_pages: list[list[int]] = []
    count, tail = 0, file_text(lay, 1)

    def flush() -> None:
        nonlocal descriptions, count, tail
        if descriptions:
            path = out_dir / file_name(s.version, s.stem, 1, len(files) + 1)
            write_tiff(path, descriptions, s.width, s.height, static=static)
            files.append(path)
            descriptions, count, tail = [], 0, file_text(lay, len(files) + 1)

    for i, (k, plane, volume) in enumerate(groups):
        truth_pages.append([len(files), len(descriptions), k + 1, plane, volume])
        if fam == "3":  # no frame header: the state lines on each file's first page only
            descriptions += [None if descriptions else tail] + [None] * (len(s.channels) - 1)
        else:
            text = frame_lines(s.version, k + 1, stamps[k], aux.get(k, ()), i == len(groups) - 1)
            descriptions += [text + tail] * len(s.channels)
        count += step
        if count >= s.frames_per_file:
            flush()
    flush()
    truth = {
        "settings": {
            **asdict(s),
            "channels": list(s.channels),
            "header_channels": None if s.header_channels is None else list(s.header_channels),
        },
        "acq_start_scope_t": acq_start,
        "frame_device_t": frame_device_t,
        "saved": saved,
        "triggers_device_t": list(triggers_device_t),
        "pages": truth_pages,
        "layout": {
            "planes": s.planes,
            "flyback_frames": s.flyback_frames,
            "channels": list(s.channels),
            "averaging": s.averaging,
            "version": release(s.version),
        },
    }
    (out_dir / "ground_truth.json").write_text(json.dumps(truth))
    return Acquisition(frame_device_t, saved, files)


def scope_settings(scope: Scope, stem: str) -> ScopeSettings:
    """The fake ScanImage's settings from a hardware config's ``scope`` section."""
    return ScopeSettings(
        frame_rate_hz=scope.frame_rate_hz,
        planes=scope.planes,
        channels=tuple(scope.channels),
        offset_s=scope.offset_s,
        drift_ppm=scope.drift_ppm,
        jitter_s=scope.jitter_s,
        trigger_jitter_s=scope.trigger_jitter_s,
        drop_fraction=scope.drop_fraction,
        frames_per_file=scope.frames_per_file,
        version=scope.version,
        outage=scope.outage,
        stem=stem,
        # taken once the hardware config's scope section has them (rig.schema.hardware)
        flyback_frames=int(getattr(scope, "flyback_frames", 0)),
        averaging=int(getattr(scope, "averaging", 1)),
    )
