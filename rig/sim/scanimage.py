"""What each ScanImage generation writes into its TIFFs: file-level keys, per-frame header,
file names (rules: ``/work/shared/reference/scanimage-headers.md``, "the reference").

Generations (release strings as ScanImage writes them; :data:`ALIASES` keeps older config
names working):

- ``3.8`` (3.x): classic TIFF; only each file's first page has an ImageDescription, the
  ``state.x=value`` lines, CR-separated; no per-frame header at all. Names: stem + 3-digit
  acquisition number + ``_NNN`` chunk (``rig001_001.tif``).
- ``4.2`` (SI4): classic TIFF; every page ``Frame Tag = 00000001`` then the sorted
  ``scanimage.SI4.*`` lines. Names ``stem_%03d_%03d.tif``.
- ``5.0`` (SI5): as SI4 with ``scanimage.SI5.*``; the first five lines are the resonant
  FrameLogger's labelled ones (``Frame Number = %16lu``, ``Frame Timestamp(s) = %25.9f``,
  ``Acq Trigger Timestamp(s)``, ``Next File Marker Timestamp(s)``, ``DC Overvoltage``).
- ``5.1`` (2015): classic TIFF; every page the 2015 StripeData frame description (ten
  lines, ``endOfAcquisition =  %d`` with its two spaces, ``%f`` times, epoch by mat2str),
  then ``scanimage.SI.*`` lines. Names ``stem_%05d_%05d.tif`` (so for all later ones).
- ``2016b``, ``2019b`` (TIFF_FORMAT_VERSION 3) and ``5.7``, ``2022.1.0`` (format 4):
  BigTIFF with the static block; ImageDescription = the frame-varying lines only
  (resonant/vDAQ logger: auxTrigger0..3 and I2CData included).

Choices where the reference is unsure (its section 6), each the documented-most-likely:

- Flyback frames are written in every generation that has fast z (4.x/5.0 included:
  third-party readers of 4.x/5.0 files count ``fastZNumDiscardFrames`` extra pages per
  volume); 3.x has no fast z, so flyback frames are refused there.
- Averaged pages carry the LAST raw frame's description (the linear logger writes the
  current frame's), in every generation; so auxTrigger0 holds only that frame's triggers.
- ``frames_per_file`` counts saved (averaged) frames for format 4 (5.7's logger), raw
  frames for every older generation (5.4's linear logger; assumed for 3.x-5.0 too). A
  file is closed once its count reaches ``frames_per_file``.
- 4.x: no per-frame timestamps (the only SI4 sample shows just ``Frame Tag``); no minor
  version key. SI4/5.0 frame tags count raw frames like ``frameNumbers``.
- 5.1 (2015) has no auxTrigger lines (its StripeData prints ten fields): see
  :func:`carries_aux_triggers`.
- 2019b follows the format-3 rule (``slicesPerAcq``, ``hFastZ.numFramesPerVolume``; no
  ``hStackManager.enable``).
- Free 5.7 has no ``SI.VERSION_UPDATE`` and no ``SI.PREMIUM``; 2022.1.0 has both
  (``PREMIUM = true``, as in the Bergamo 2022.1.0 header).
- A stack configured but disabled (``configured_slices``) does not exist before 5.1 (a
  slice count > 1 acquires a stack there): refused for 3.x/4.x/5.0.
- 3.x planes > 1 (it had slow stacks only): written as ``numberOfZSlices`` = planes with
  one frame per slice (``numberOfFrames = 1``), the volumes one after another: the page
  order a 3.x reader expects (channel, frame, slice).
- "No value" sentinels: -1 in the resonant 2016+ files (next-file marker), 0 in the
  earlier linear/FrameLogger files; the start trigger is 0 (the acquisition's own start).
- ``endOfAcquisition``/``endOfAcquisitionMode`` are 1 on the last written frame.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rig.sim.scanimage_tiff import assignments, channel_save, mat, num

RELEASES = ("3.8", "4.2", "5.0", "5.1", "2016b", "2019b", "5.7", "2022.1.0")
ALIASES = {"2016+": "2022.1.0", "5": "5.7", "3": "3.8"}
VERSIONS = RELEASES + tuple(ALIASES)
COMMIT = "6538675fb9c3276754f7078940dcc5cc2b9688b5"
EPOCH = (2024, 3, 15, 10, 42, 17.316)  # the acquisition mode's wall-clock start


def release(version: str) -> str:
    """The ScanImage release a version string names (aliases resolved)."""
    if version not in VERSIONS:
        raise ValueError(f"version {version!r}: use one of {VERSIONS}")
    return ALIASES.get(version, version)


def family(version: str) -> str:
    """'3', '4', '5.0', '5.1', 'format3' or 'format4'."""
    r = release(version)
    if r in ("3.8", "4.2", "5.0", "5.1"):
        return {"3.8": "3", "4.2": "4"}.get(r, r)
    return "format3" if r in ("2016b", "2019b") else "format4"


def carries_aux_triggers(version: str) -> bool:
    """Whether the per-frame header has auxTrigger0..3: the 2016+ resonant/vDAQ logger's
    (2016b, 2019b, 5.7, 2020+). Not 3.x/4.x/5.0 (no such lines) and not 5.1: the 2015
    StripeData frame description has ten fields, none of them aux triggers."""
    return family(version) in ("format3", "format4")


def is_bigtiff(version: str) -> bool:
    return family(version) in ("format3", "format4")


def counts_saved_frames(version: str) -> bool:
    """Whether ``frames_per_file`` counts saved (averaged) frames (format 4) or raw ones."""
    return family(version) == "format4"


def file_name(version: str, stem: str, acquisition: int, sub: int) -> str:
    fam = family(version)
    if fam == "3":
        return f"{stem}{acquisition:03d}_{sub:03d}.tif"
    if fam in ("4", "5.0"):
        return f"{stem}_{acquisition:03d}_{sub:03d}.tif"
    return f"{stem}_{acquisition:05d}_{sub:05d}.tif"


@dataclass(frozen=True)
class Layout:
    """What the header describes (the file-level facts, known when logging starts)."""

    version: str
    channels: tuple[int, ...]  # as the header says (header_channels, else channels)
    planes: int  # S
    flyback: int  # B
    averaging: int  # A
    configured_slices: int | None
    frame_rate_hz: float
    frames_per_file: int
    raw_frames: int  # raw frames requested (acquired), before rounding to A
    width: int
    height: int
    stem: str

    @property
    def volumes(self) -> int:
        per = self.planes + self.flyback
        return -(-self.raw_frames // per) if self.planes > 1 else 1

    @property
    def frames_per_slice(self) -> int:
        """Raw frames per slice: 1 in a fast stack; the frames requested when planar."""
        if self.planes > 1:
            return 1
        return max(self.raw_frames - self.raw_frames % self.averaging, self.averaging)

    @property
    def volume_rate_hz(self) -> float:
        return self.frame_rate_hz / (self.planes + self.flyback)

    @property
    def zs(self) -> list[int] | int:
        return [10 * i for i in range(self.planes)] if self.planes > 1 else 0


def _si(lay: Layout) -> dict[str, Any]:
    """The ``SI.*`` keys of 5.1-2019 (format <= 3) and, with more, format 4."""
    s, fast = lay.planes, lay.planes > 1
    saved = channel_save(lay.channels)
    keys: dict[str, Any] = {
        "acqState": "grab",
        "acqsPerLoop": 1,
        "hChannels.channelSave": saved,
        "hChannels.channelsActive": saved,
        "hFastZ.discardFlybackFrames": lay.flyback > 0,
        "hFastZ.enable": fast,
        "hFastZ.numDiscardFlybackFrames": lay.flyback,
        "hFastZ.numVolumes": lay.volumes,
        "hRoiManager.linesPerFrame": lay.height,
        "hRoiManager.pixelsPerLine": lay.width,
        "hRoiManager.scanFramePeriod": 1.0 / lay.frame_rate_hz,
        "hRoiManager.scanFrameRate": lay.frame_rate_hz,
        "hRoiManager.scanVolumeRate": lay.volume_rate_hz,
        "hScan2D.logAverageFactor": lay.averaging,
        "hScan2D.logFileCounter": 1,
        "hScan2D.logFilePerChannel": False,
        "hScan2D.logFileStem": lay.stem,
        "hScan2D.logFramesPerFile": lay.frames_per_file,
        "hStackManager.framesPerSlice": lay.frames_per_slice,
        "hStackManager.numSlices": lay.configured_slices or s,
        "hStackManager.zs": lay.zs,
    }
    r = release(lay.version)
    if family(lay.version) == "format4":
        keys.update(
            {
                "TIFF_FORMAT_VERSION": 4,
                "VERSION_COMMIT": COMMIT,
                "VERSION_MAJOR": "5.7" if r == "5.7" else int(r.split(".")[0]),
                "VERSION_MINOR": "1" if r == "5.7" else int(r.split(".")[1]),
                "hStackManager.enable": fast,
                "hStackManager.stackMode": "fast" if fast else "slow",
                "hStackManager.actualNumSlices": s,
                "hStackManager.numVolumes": lay.volumes,
                "hStackManager.actualNumVolumes": lay.volumes,
                # a stack's frames per volume; 1 without a stack (as a real 2023.1.0
                # planar header: framesPerSlice 32000, numFramesPerVolume 1)
                "hStackManager.numFramesPerVolume": s,
                "hStackManager.numFramesPerVolumeWithFlyback": s + lay.flyback,
            }
        )
        if r != "5.7":
            keys.update({"VERSION_UPDATE": int(r.split(".")[2]), "PREMIUM": True})
    else:
        keys.update(
            {
                "VERSION_MAJOR": "5.1" if r == "5.1" else r,
                "VERSION_MINOR": "0",
                "hFastZ.numFramesPerVolume": s + lay.flyback,
                "hStackManager.slicesPerAcq": s,
            }
        )
        if r != "5.1":
            keys["TIFF_FORMAT_VERSION"] = 3
    return keys


def _si45(lay: Layout, sub: int) -> dict[str, Any]:
    """``scanimage.SI4.*`` / ``scanimage.SI5.*`` keys (per file: the sub-file counter)."""
    fast = lay.planes > 1
    keys: dict[str, Any] = {
        "acqNumAveragedFrames": lay.averaging,
        "acqNumFrames": lay.frames_per_slice,
        "channelsSave": channel_save(lay.channels),
        "fastZDiscardFlybackFrames": lay.flyback > 0,
        "fastZEnable": fast,
        "fastZNumDiscardFrames": lay.flyback,
        "fastZNumVolumes": lay.volumes,
        "fastZPeriod": (lay.planes + lay.flyback) / lay.frame_rate_hz if fast else None,
        "linesPerFrame": lay.height,
        "loggingFileCounter": 1,
        "loggingFileStem": lay.stem,
        "loggingFileSubCounter": sub,
        "loggingFramesPerFile": lay.frames_per_file,
        "pixelsPerLine": lay.width,
        "scanFramePeriod": 1.0 / lay.frame_rate_hz,
        "scanFrameRate": lay.frame_rate_hz,
        "stackNumSlices": lay.planes,
    }
    if family(lay.version) == "4":
        keys["versionMajor"] = 4.2
    else:
        keys.update({"VERSION_MAJOR": 5, "VERSION_MINOR": 0})
    return keys


def _state(lay: Layout) -> str:
    """The 3.x header: ``state.x=value`` lines, CR-separated, in 3.x's own order."""
    chans = set(lay.channels)
    fields: list[tuple[str, Any]] = [
        ("configPath", "C:\\rig"),
        ("configName", "rig"),
        ("software.version", 3.8),
        ("software.minorRev", 0),
        ("software.beta", 0),
        ("software.betaNum", None),
        ("acq.externallyTriggered", 1),
        ("acq.numberOfZSlices", lay.planes),
        ("acq.zStepSize", 10),
        ("acq.numberOfFrames", lay.frames_per_slice),
        ("acq.averaging", int(lay.averaging > 1)),
        ("acq.numAvgFramesSave", lay.averaging),
        ("acq.linesPerFrame", lay.height),
        ("acq.pixelsPerLine", lay.width),
        ("acq.frameRate", lay.frame_rate_hz),
        ("acq.msPerLine", 1000.0 / (lay.frame_rate_hz * lay.height)),
    ]
    fields += [(f"acq.acquiringChannel{n}", int(n in chans)) for n in range(1, 5)]
    fields += [(f"acq.savingChannel{n}", int(n in chans)) for n in range(1, 5)]
    fields += [
        ("acq.numberOfChannelsSave", len(chans)),
        ("acq.numberOfChannelsAcquire", len(chans)),
        ("acq.framesPerFile", lay.frames_per_file),
        ("acq.clockExport.frameClockEnable", 1),
        ("internal.triggerTimeString", "3/15/2024 10:42:17.316"),
        ("internal.triggerTimeFirstString", "3/15/2024 10:42:17.316"),
        ("internal.triggerFrameDelayMS", 0),
    ]
    return "".join(f"state.{k}={mat(v)}\r" for k, v in fields)


ROI_JSON = json.dumps(
    {
        "RoiGroups": {
            "imagingRoiGroup": {
                "ver": 1,
                "classname": "scanimage.mroi.RoiGroup",
                "name": "Default Imaging ROI Group",
                "rois": {"ver": 1, "classname": "scanimage.mroi.Roi", "name": "Default"},
            },
            "photostimRoiGroups": None,
            "integrationRoiGroup": None,
        }
    },
    indent=2,
)


def static_header(lay: Layout) -> tuple[int, str, str] | None:
    """The 2016+ static block (format version, header text, ROI JSON); None before."""
    if not is_bigtiff(lay.version):
        return None
    fmt = 4 if family(lay.version) == "format4" else 3
    return fmt, assignments("SI.", _si(lay)), ROI_JSON


def file_text(lay: Layout, sub: int) -> str:
    """What follows (or for 3.x: is) the per-frame lines of every page of sub-file ``sub``:
    3.x's state lines (first page only), SI4/SI5/2015 ``scanimage.SI*`` lines, or ''."""
    fam = family(lay.version)
    if fam == "3":
        return _state(lay)
    if fam in ("4", "5.0"):
        return assignments("scanimage.SI4." if fam == "4" else "scanimage.SI5.", _si45(lay, sub))
    if fam == "5.1":
        return assignments("scanimage.SI.", _si(lay))
    return ""


def _floats(times: Sequence[float]) -> str:
    return "[" + " ".join(f"{t:.9f}" for t in times) + "]"


def frame_lines(version: str, number: int, stamp: float, aux: Sequence[float], end: bool) -> str:
    """The per-frame header of raw frame ``number`` (1-based; its frameNumbers) at
    ``stamp`` s since the acquisition's start, ``aux`` its auxTrigger0 edge times."""
    fam = family(version)
    if fam == "4":
        return f"Frame Tag = {number:08d}\n"
    if fam == "5.0":
        return (
            f"Frame Number = {number:16d}\nFrame Timestamp(s) = {stamp:25.9f}\n"
            f"Acq Trigger Timestamp(s) = {0.0:25.9f}\n"
            f"Next File Marker Timestamp(s) = {0.0:25.9f}\nDC Overvoltage = 0\n"
        )
    y, mo, d, h, mi, s = EPOCH
    if fam == "5.1":
        return (
            f"frameNumbers = {number}\nacquisitionNumbers = 1\n"
            f"frameNumberAcquisition = {number}\nframeTimestamps_sec = {stamp:f}\n"
            f"acqTriggerTimestamps_sec = {0.0:f}\nnextFileMarkerTimestamps_sec = {0.0:f}\n"
            f"endOfAcquisition =  {int(end)}\nendOfAcquisitionMode = {int(end)}\n"
            f"dcOverVoltage = 0\nepoch = [{y} {mo} {d} {h} {mi} {num(s)}]\n"
        )
    return (
        f"frameNumbers = {number}\nacquisitionNumbers = 1\n"
        f"frameNumberAcquisition = {number}\nframeTimestamps_sec = {stamp:.9f}\n"
        f"acqTriggerTimestamps_sec = {0.0:.9f}\nnextFileMarkerTimestamps_sec = {-1.0:.9f}\n"
        f"endOfAcquisition = {int(end)}\nendOfAcquisitionMode = {int(end)}\n"
        f"dcOverVoltage = 0\nepoch = [{y:4d} {mo:2d} {d:2d} {h:2d} {mi:2d} {s:.3f}]\n"
        f"auxTrigger0 = {_floats(aux)}\nauxTrigger1 = []\nauxTrigger2 = []\n"
        "auxTrigger3 = []\nI2CData = {}\n"
    )
