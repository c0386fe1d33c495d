"""The fake ScanImage: an acquisition on its own clock, written as ScanImage TIFFs.

The microscope's clock runs apart from the rig's: ``scope_t = offset_s + (1 + drift_ppm *
1e-6) * device_t``. Frames come every ``1 / frame_rate_hz`` of the scope's clock (each
frame is one plane; a volume is ``planes`` frames), with a Gaussian ``jitter_s`` on each
timestamp (and ``trigger_jitter_s`` on each aux-trigger stamp). A fraction
``drop_fraction`` of frames is acquired (its frame-clock pulse goes out) but not saved: its
frame number is missing from the files, as when ScanImage drops frames. The rig's
trial-start TTL reaches the aux trigger input: its time, on the scope's
clock and from the acquisition's start, is stamped into ``auxTrigger0`` of the frame
during which it came.

Files are split every ``frames_per_file`` frames (``<stem>_00001_00001.tif``,
``_00001_00002.tif`` ...), each channel its own page. ``ground_truth.json`` beside them
holds, for tests, the device time of every frame and the true clock parameters.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rig.schema.hardware import Scope
from rig.scope.tiff import Page, format_header, write_tiff

VERSIONS = ("2016+", "5", "3")
START_DEVICE_T = -1.0  # the fake microscope is started a second before the session


@dataclass(frozen=True)
class ScopeSettings:
    frame_rate_hz: float = 30.0
    planes: int = 5
    channels: tuple[int, ...] = (1,)
    offset_s: float = 0.0  # scope clock at device time 0
    drift_ppm: float = 0.0
    jitter_s: float = 0.0
    trigger_jitter_s: float = 0.0  # on the aux-trigger stamps
    drop_fraction: float = 0.0
    frames_per_file: int = 1000
    version: str = "2016+"
    outage: tuple[float, float] | None = None  # device seconds with no frames at all (tests)
    width: int = 8
    height: int = 8
    stem: str = "rig"


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


def _metadata(s: ScopeSettings) -> dict[str, object]:
    if s.version == "3":
        return {
            "state.software.version": 3.8,
            "state.acq.frameRate": s.frame_rate_hz,
            "state.acq.numberOfZSlices": s.planes,
            "state.acq.numberOfChannelsSave": len(s.channels),
        }
    return {
        "SI.VERSION_MAJOR": "2020" if s.version == "2016+" else "5.7",
        "SI.hRoiManager.scanFrameRate": s.frame_rate_hz,
        "SI.hStackManager.numSlices": s.planes,
        "SI.hChannels.channelSave": list(s.channels) if len(s.channels) > 1 else s.channels[0],
    }


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
    if settings.version not in VERSIONS:
        raise ValueError(f"version {settings.version!r}: use one of {VERSIONS}")
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    period = 1.0 / settings.frame_rate_hz
    acq_start = scope_time(settings, start_device_t)  # the scope's clock at its own start
    n = int((scope_time(settings, stop_device_t) - acq_start) / period)
    stamps = [_stamp(settings, rng, k) for k in range(n)]  # FrameClock draws the same
    saved = [rng.random() >= settings.drop_fraction for _ in range(n)]
    trigger_rng = random.Random(f"{seed}/triggers")  # apart: the frame clock redraws stamps
    triggers = sorted(
        scope_time(settings, t) - acq_start + trigger_rng.gauss(0.0, settings.trigger_jitter_s)
        for t in triggers_device_t
    )
    aux: dict[int, list[float]] = {}
    for t in triggers:  # the frame during which the trigger came
        k = min(max(int(t / period), 0), n - 1)
        aux.setdefault(k, []).append(round(t, 9))
    meta = _metadata(settings)
    meta_text = format_header(meta)
    pixels = bytes(settings.width * settings.height * 2)
    pages: list[Page] = []
    frames_in_file = 0
    files: list[Path] = []

    def flush() -> None:
        nonlocal pages, frames_in_file
        if not pages:
            return
        path = out_dir / f"{settings.stem}_00001_{len(files) + 1:05d}.tif"
        kw: dict[str, str] = {}
        if settings.version == "2016+":
            kw["si_metadata"] = meta_text
        elif settings.version == "5":
            kw["software"] = meta_text
        write_tiff(path, pages, settings.width, settings.height, **kw)
        files.append(path)
        pages, frames_in_file = [], 0

    frame_device_t = [device_time(settings, acq_start + s) for s in stamps]
    for k in range(n):
        if not saved[k] or _in_outage(settings, frame_device_t[k]):
            continue
        header = {
            "frameNumbers": k + 1,
            "acquisitionNumbers": 1,
            "frameNumberAcquisition": k + 1,
            "frameTimestamps_sec": round(stamps[k], 9),
            "acqTriggerTimestamps_sec": 0.0,
            "nextFileMarkerTimestamps_sec": -1.0,
            "endOfAcquisition": int(k == n - 1),
            "endOfAcquisitionMode": 0,
            "dcOverVoltage": 0,
            "auxTrigger0": aux.get(k, []),
            "auxTrigger1": [],
            "auxTrigger2": [],
            "auxTrigger3": [],
        }
        text = format_header(header)
        if settings.version == "3":
            text = format_header(meta) + text
        for _ in settings.channels:
            pages.append(Page(text, pixels))
        frames_in_file += 1
        if frames_in_file == settings.frames_per_file:
            flush()
    flush()
    saved = [
        ok and not _in_outage(settings, t) for ok, t in zip(saved, frame_device_t, strict=True)
    ]
    truth = {
        "settings": {**asdict(settings), "channels": list(settings.channels)},
        "acq_start_scope_t": acq_start,
        "frame_device_t": frame_device_t,
        "saved": saved,
        "triggers_device_t": list(triggers_device_t),
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
    )
