"""What a ScanImage file's header says: version, planes, flyback, channels, averaging, rate.

Each derived value keeps the header key(s) it came from (:class:`Derived`), so ``rig
scope-info`` can show its work. The rules are ScanImage's own, generation by generation
(``../shared/reference/scanimage-headers.md`` section 2, from Vidrio's ``opentif`` and
``extractHeaderData``):

- **2020+ and free 5.7** (``TIFF_FORMAT_VERSION`` 4): planes ``hStackManager.actualNumSlices``
  (1 whenever the stack is disabled, whatever ``numSlices`` says; without the key: ``numSlices``
  if ``enable`` and more than 1, else 1), flyback ``numFramesPerVolumeWithFlyback -
  numFramesPerVolume``.
- **2015-2019, free 5.1-5.6** (format 2-3, or ``scanimage.SI.`` lines on each page): a stack
  iff ``slicesPerAcq`` (else ``numSlices``) > 1, and not disabled by ``enable = false``;
  fast iff ``hFastZ.enable``; flyback ``hFastZ.numFramesPerVolume - slicesPerAcq``.
- **4.x, 5.0** (``scanimage.SI4.`` / ``scanimage.SI5.`` lines on each page): planes
  ``stackNumSlices``; flyback ``fastZNumDiscardFrames`` when ``fastZDiscardFlybackFrames``.
- **3.x** (``state.*`` lines on the first page): planes ``state.acq.numberOfZSlices``;
  channels the N with both ``savingChannelN`` and ``acquiringChannelN``; averaging
  ``numAvgFramesSave`` (3.6+), else 1.

Versions are kept as ScanImage writes them, never cast to a number: ``3.8``, ``4.2``,
``5.0``, ``5.7R1``, ``2019bR0``, ``2022.1.0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rig.scope.tiff import ScopeFileError, parse_raw, parse_value, read_pages

SI4, SI5, SI = "scanimage.SI4.", "scanimage.SI5.", "scanimage.SI."


@dataclass(frozen=True)
class Derived:
    value: Any
    source: str  # the header key(s) it came from, or how it was worked out


@dataclass
class FileHeader:
    path: Path
    generation: str  # "3.x", "4.x", "5.0", "2015", "2016-2019", "2020+"
    raw: dict[str, str]  # the file-level header, key -> value as written
    derived: dict[str, Derived] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def get(self, name: str) -> Any:
        return self.derived[name].value

    @property
    def version(self) -> str:
        return str(self.get("version"))

    @property
    def planes(self) -> int:
        return int(self.get("planes"))

    @property
    def flyback(self) -> int:
        return int(self.get("flyback_frames"))

    @property
    def channels(self) -> list[int]:
        return list(self.get("channels"))

    @property
    def averaging(self) -> int:
        return int(self.get("averaging"))

    @property
    def frame_rate_hz(self) -> float | None:
        rate = self.get("frame_rate_hz")
        return None if rate is None else float(rate)

    @property
    def stack(self) -> str:
        return str(self.get("stack"))

    @property
    def has_aux_triggers(self) -> bool:
        return self.generation in ("2015", "2016-2019", "2020+")


def _number(raw: dict[str, str], key: str) -> float | None:
    value = parse_value(raw[key]) if key in raw else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _count(raw: dict[str, str], key: str, default: int) -> int:
    value = _number(raw, key)
    return default if value is None or not math.isfinite(value) else int(value)


def _true(raw: dict[str, str], key: str) -> bool | None:
    if key not in raw:
        return None
    value = parse_value(raw[key])
    return bool(value) if isinstance(value, bool | int) else None


def _channel_list(raw: dict[str, str], key: str) -> list[int] | None:
    """A channelSave value: a list of channel numbers, or one scalar channel *number*."""
    if key not in raw:
        return None
    value = parse_value(raw[key])
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return None
    return [int(v) for v in values]


def _unquoted(text: str) -> str:
    text = text.strip()
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "'" else text


def generation_of(raw: dict[str, str], format_version: int | None) -> str:
    if "state.software.version" in raw or any(k.startswith("state.") for k in raw):
        return "3.x"
    if any(k.startswith(SI4) for k in raw):
        return "4.x"
    if any(k.startswith(SI5) for k in raw):
        return "5.0"
    if format_version is None:
        return "2015"
    major = raw.get("SI.VERSION_MAJOR", "")
    year = None if major.strip().startswith("'") else _number(raw, "SI.VERSION_MAJOR")
    if format_version >= 4 or (year or 0) >= 2020 or _unquoted(major) == "5.7":
        return "2020+"  # free 5.7 writes the 2020 format (TIFF_FORMAT_VERSION 4)
    return "2016-2019"


def version_of(raw: dict[str, str], generation: str) -> Derived:
    if generation == "3.x":
        version = _unquoted(raw.get("state.software.version", "3"))
        minor = _unquoted(raw.get("state.software.minorRev", "0"))
        keys = "state.software.version"
        if minor not in ("", "0"):
            version, keys = f"{version}.{minor}", keys + " + minorRev"
        if _true(raw, "state.software.beta"):
            version += f" beta {_unquoted(raw.get('state.software.betaNum', ''))}".rstrip()
            keys += " + beta, betaNum"
        return Derived(version, keys)
    if generation == "4.x":
        key = SI4 + "versionMajor"
        return Derived(_unquoted(raw.get(key, "4")), key)
    if generation == "5.0":
        k_major, k_minor = SI5 + "VERSION_MAJOR", SI5 + "VERSION_MINOR"
        return Derived(f"{_unquoted(raw.get(k_major, '5'))}.{_unquoted(raw.get(k_minor, '0'))}",
                       f"{k_major}.VERSION_MINOR")  # fmt: skip
    major = raw.get("SI.VERSION_MAJOR")
    if major is None:
        return Derived("unknown", "no SI.VERSION_MAJOR")
    minor = _unquoted(raw.get("SI.VERSION_MINOR", "0"))
    if major.strip().startswith("'"):  # a release name: '5.7', '2019b'
        return Derived(f"{_unquoted(major)}R{minor}", "SI.VERSION_MAJOR + 'R' + VERSION_MINOR")
    update = _unquoted(raw.get("SI.VERSION_UPDATE", "0"))
    return Derived(
        f"{major.strip()}.{minor}.{update}", "SI.VERSION_MAJOR.VERSION_MINOR.VERSION_UPDATE"
    )


def _stack_2020(h: FileHeader) -> None:
    raw, sm = h.raw, "SI.hStackManager."
    enable = _true(raw, sm + "enable")
    if sm + "actualNumSlices" in raw:
        planes = Derived(_count(raw, sm + "actualNumSlices", 1), sm + "actualNumSlices")
    else:
        n = _count(raw, sm + "numSlices", 1)
        planes = Derived(n if enable and n > 1 else 1, f"{sm}numSlices if {sm}enable")
    with_fb, without = sm + "numFramesPerVolumeWithFlyback", sm + "numFramesPerVolume"
    flyback = Derived(0, "no stack")
    if planes.value > 1 and with_fb in raw and without in raw:
        flyback = Derived(
            _count(raw, with_fb, 0) - _count(raw, without, 0), f"{with_fb} - numFramesPerVolume"
        )
    mode = _unquoted(raw.get(sm + "stackMode", "'fast'")) if planes.value > 1 else "none"
    if planes.value > 1 and sm + "stackMode" not in raw:
        mode = "fast" if _true(raw, "SI.hFastZ.enable") else "slow"
    h.derived.update(planes=planes, flyback_frames=flyback)
    h.derived["stack"] = Derived(mode, sm + "stackMode" if planes.value > 1 else sm + "enable")
    if enable is False and _count(raw, sm + "numSlices", 1) > 1:
        h.derived["configured_slices"] = Derived(
            _count(raw, sm + "numSlices", 1), f"{sm}numSlices (not used: {sm}enable = false)"
        )


def _stack_2016(h: FileHeader) -> None:
    raw, sm, fz = h.raw, "SI.hStackManager.", "SI.hFastZ."
    key = sm + "slicesPerAcq" if sm + "slicesPerAcq" in raw else sm + "numSlices"
    slices = _count(raw, key, 1)
    if _true(raw, sm + "enable") is False:
        if slices > 1:
            h.derived["configured_slices"] = Derived(slices, f"{key} (not used: {sm}enable)")
        slices, key = 1, sm + "enable = false"
    h.derived["planes"] = Derived(slices, key)
    fast = bool(_true(raw, fz + "enable"))
    h.derived["stack"] = Derived(
        ("fast" if fast else "slow") if slices > 1 else "none", fz + "enable"
    )
    flyback = Derived(0, "no fast stack")
    if slices > 1 and fast:
        if fz + "numFramesPerVolume" in raw:
            fb = _count(raw, fz + "numFramesPerVolume", slices) - slices
            flyback = Derived(fb, f"{fz}numFramesPerVolume - {key}")
        elif fz + "numDiscardFlybackFrames" in raw:
            n = _count(raw, fz + "numDiscardFlybackFrames", 0)
            flyback = Derived(n, fz + "numDiscardFlybackFrames")
    h.derived["flyback_frames"] = flyback


def _stack_si45(h: FileHeader, p: str) -> None:
    raw = h.raw
    slices = _count(raw, p + "stackNumSlices", 1)
    h.derived["planes"] = Derived(slices, p + "stackNumSlices")
    fast = bool(_true(raw, p + "fastZEnable"))
    h.derived["stack"] = Derived(
        ("fast" if fast else "slow") if slices > 1 else "none", p + "fastZEnable"
    )
    flyback = Derived(0, "no fast stack")
    if slices > 1 and fast and _true(raw, p + "fastZDiscardFlybackFrames"):
        n = _count(raw, p + "fastZNumDiscardFrames", 0)
        flyback = Derived(n, f"{p}fastZNumDiscardFrames (fastZDiscardFlybackFrames)")
    h.derived["flyback_frames"] = flyback


def _state_3x(h: FileHeader) -> None:
    raw, acq = h.raw, "state.acq."
    slices = _count(raw, acq + "numberOfZSlices", 1)
    h.derived["planes"] = Derived(slices, acq + "numberOfZSlices")
    h.derived["stack"] = Derived("slow" if slices > 1 else "none", "3.x stacks are slow stacks")
    h.derived["flyback_frames"] = Derived(0, "3.x has no fast z")
    saved = [
        n
        for n in range(1, 5)
        if _true(raw, f"{acq}savingChannel{n}") and _true(raw, f"{acq}acquiringChannel{n}")
    ]
    source = f"{acq}savingChannelN and acquiringChannelN"
    if not saved and acq + "numberOfChannelsSave" in raw:
        saved = list(range(1, _count(raw, acq + "numberOfChannelsSave", 1) + 1))
        source = acq + "numberOfChannelsSave"
    h.derived["channels"] = Derived(saved or [1], source if saved else "none named: 1")
    if acq + "numAvgFramesSave" in raw:
        h.derived["averaging"] = Derived(
            _count(raw, acq + "numAvgFramesSave", 1), acq + "numAvgFramesSave"
        )
    else:
        h.derived["averaging"] = Derived(1, "no numAvgFramesSave (3.5: one frame per slice)")
    h.derived["frame_rate_hz"] = Derived(_number(raw, acq + "frameRate"), acq + "frameRate")
    per_file = _number(raw, acq + "framesPerFile")
    h.derived["frames_per_file"] = Derived(
        int(per_file) if per_file and math.isfinite(per_file) else None, acq + "framesPerFile"
    )


def _common(h: FileHeader, p: str, channels: str, average: str, rate: str, per_file: str) -> None:
    raw = h.raw
    saved = _channel_list(raw, p + channels)
    h.derived["channels"] = Derived(saved or [1], p + channels if saved else "none named: 1")
    h.derived["averaging"] = Derived(_count(raw, p + average, 1), p + average)
    h.derived["frame_rate_hz"] = Derived(_number(raw, p + rate), p + rate)
    n = _number(raw, p + per_file)
    h.derived["frames_per_file"] = Derived(int(n) if n and math.isfinite(n) else None, p + per_file)


def derive(path: Path, raw: dict[str, str], format_version: int | None) -> FileHeader:
    generation = generation_of(raw, format_version)
    h = FileHeader(path, generation, raw)
    h.derived["version"] = version_of(raw, generation)
    if generation == "3.x":
        _state_3x(h)
    elif generation in ("4.x", "5.0"):
        p = SI4 if generation == "4.x" else SI5
        _stack_si45(h, p)
        _common(h, p, "channelsSave", "acqNumAveragedFrames", "scanFrameRate",
                "loggingFramesPerFile")  # fmt: skip
    else:
        (_stack_2020 if generation == "2020+" else _stack_2016)(h)
        _common(h, "SI.", "hChannels.channelSave", "hScan2D.logAverageFactor",
                "hRoiManager.scanFrameRate", "hScan2D.logFramesPerFile")  # fmt: skip
    _bounded(h)
    if h.averaging > 1 and h.flyback:
        h.problems.append(f"{path.name}: averaging with flyback frames: ScanImage cannot log this")
    return h


LIMITS = {"planes": (1, 1000), "flyback_frames": (0, 1000), "averaging": (1, 100_000)}


def _bounded(h: FileHeader) -> None:
    """A count no microscope writes (a damaged or hand-edited header) is reported, and
    replaced by the nearest one that is, so nothing downstream divides by it."""
    for name, (lo, hi) in LIMITS.items():
        d = h.derived[name]
        if not lo <= d.value <= hi:
            h.problems.append(
                f"{h.path.name}: {name} = {d.value} (from {d.source}): not between {lo} and {hi}"
            )
            h.derived[name] = Derived(min(max(d.value, lo), hi), d.source)
    channels = h.derived["channels"]
    if len(channels.value) > 16 or not all(0 < c <= 16 for c in channels.value):
        h.problems.append(
            f"{h.path.name}: channels {channels.value} (from {channels.source}): not "
            "ScanImage's channel numbers"
        )
        h.derived["channels"] = Derived([1], channels.source)
    rate = h.derived["frame_rate_hz"].value
    if rate is not None and not (math.isfinite(rate) and 0 < rate <= 100_000):
        h.problems.append(f"{h.path.name}: frame rate {rate} Hz: not a frame rate")
        h.derived["frame_rate_hz"] = Derived(None, h.derived["frame_rate_hz"].source)


def read_header(path: Path) -> FileHeader:
    """The file-level header of one ScanImage TIFF, with what it says derived."""
    pages = read_pages(path, limit=1)
    if pages.static_text is not None:
        raw, fmt = parse_raw(pages.static_text), pages.static_format
    else:
        first = pages.descriptions[0] if pages.descriptions else ""
        raw = {
            ("SI." + k[len(SI) :] if k.startswith(SI) else k): v
            for k, v in parse_raw(first).items()
            if k.startswith(("state.", "scanimage."))
        }
        fmt = None
        if not raw:
            raise ScopeFileError(
                f"{path}: no ScanImage file metadata (no 2016+ header block, no scanimage. "
                "or state. lines in the first page's description): not a ScanImage file, "
                "or its metadata was stripped"
            )
    return derive(path, raw, fmt)
