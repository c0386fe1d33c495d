"""The header rules, per ScanImage generation, on header text as real microscopes write it
(the keys and values quoted in ../shared/reference/scanimage-headers.md from real files:
a 2023.1.0 header with the stack disabled, free 5.7R1, 2019b, 5.0, SI4, 3.8), and pages
written by tifffile (not by this project's writer) grouped into frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rig.scope.acquisition import load_acquisition
from rig.scope.frames import read_groups
from rig.scope.header import derive, read_header
from rig.scope.tiff import ScopeFileError, parse_raw
from rig.sim.scope import ScopeSettings, acquire

SI2023_STACK_OFF = """SI.VERSION_MAJOR = 2023
SI.VERSION_MINOR = 1
SI.VERSION_UPDATE = 0
SI.hStackManager.enable = false
SI.hStackManager.stackMode = 'slow'
SI.hStackManager.numSlices = 121
SI.hStackManager.actualNumSlices = 1
SI.hStackManager.framesPerSlice = 32000
SI.hStackManager.numFramesPerVolume = 1
SI.hStackManager.numFramesPerVolumeWithFlyback = 1
SI.hChannels.channelSave = [1;2]
SI.hRoiManager.scanFrameRate = 30.047
SI.hScan2D.logAverageFactor = 1
SI.hScan2D.logFramesPerFile = 4000
"""

SI57_FAST = """SI.VERSION_MAJOR = '5.7'
SI.VERSION_MINOR = '1'
SI.hStackManager.enable = true
SI.hStackManager.stackMode = 'fast'
SI.hStackManager.numSlices = 41
SI.hStackManager.actualNumSlices = 5
SI.hStackManager.framesPerSlice = 1
SI.hStackManager.numFramesPerVolume = 5
SI.hStackManager.numFramesPerVolumeWithFlyback = 6
SI.hFastZ.enable = true
SI.hChannels.channelSave = 2
SI.hRoiManager.scanFrameRate = 30
SI.hScan2D.logAverageFactor = 1
SI.hScan2D.logFramesPerFile = Inf
"""

SI2019_FAST = """SI.VERSION_MAJOR = '2019b'
SI.VERSION_MINOR = '0'
SI.hStackManager.numSlices = 4
SI.hStackManager.slicesPerAcq = 4
SI.hFastZ.enable = true
SI.hFastZ.numFramesPerVolume = 6
SI.hFastZ.numVolumes = 100
SI.hChannels.channelSave = [1;2]
SI.hRoiManager.scanFrameRate = 60
SI.hScan2D.logAverageFactor = 1
"""

SI50 = """Frame Number = 1
Frame Timestamp(s) = 0.000000
scanimage.SI5.VERSION_MAJOR = 5
scanimage.SI5.VERSION_MINOR = 0
scanimage.SI5.stackNumSlices = 3
scanimage.SI5.fastZEnable = true
scanimage.SI5.fastZDiscardFlybackFrames = true
scanimage.SI5.fastZNumDiscardFrames = 2
scanimage.SI5.channelsSave = [1;3]
scanimage.SI5.scanFrameRate = 15.2
scanimage.SI5.acqNumAveragedFrames = 1
"""

SI38 = "\r".join([
    "state.configName='rig'",
    "state.software.version=3.8",
    "state.software.minorRev=0",
    "state.acq.numberOfZSlices=1",
    "state.acq.numberOfFrames=1220",
    "state.acq.averaging=1",
    "state.acq.numAvgFramesSave=1",
    "state.acq.savingChannel1=1",
    "state.acq.acquiringChannel1=1",
    "state.acq.savingChannel2=1",
    "state.acq.acquiringChannel2=0",
    "state.acq.frameRate=7.8125",
])  # fmt: skip


def test_a_disabled_stack_is_one_plane_whatever_num_slices_says() -> None:
    h = derive(Path("x.tif"), parse_raw(SI2023_STACK_OFF), 4)
    assert (h.version, h.generation, h.planes, h.flyback, h.stack) == (
        "2023.1.0", "2020+", 1, 0, "none")  # fmt: skip
    assert h.derived["planes"].source == "SI.hStackManager.actualNumSlices"
    assert h.get("configured_slices") == 121
    assert h.channels == [1, 2] and h.frame_rate_hz == pytest.approx(30.047)
    assert h.get("frames_per_file") == 4000  # not framesPerSlice's 32000


def test_free_57_is_a_release_name_with_flyback_and_a_scalar_channel_number() -> None:
    h = derive(Path("x.tif"), parse_raw(SI57_FAST), 4)
    assert (h.version, h.generation, h.planes, h.flyback) == ("5.7R1", "2020+", 5, 1)
    assert h.channels == [2]  # channel number 2, not two channels
    assert h.get("frames_per_file") is None  # Inf: one file


def test_2019_fast_stack_flyback_from_fast_z_frames_per_volume() -> None:
    h = derive(Path("x.tif"), parse_raw(SI2019_FAST), 3)
    assert (h.version, h.generation, h.planes, h.flyback, h.stack) == (
        "2019bR0", "2016-2019", 4, 2, "fast")  # fmt: skip
    off = derive(Path("x.tif"), parse_raw(SI2019_FAST.replace("slicesPerAcq = 4",
                                                              "slicesPerAcq = 1")), 3)  # fmt: skip
    assert (off.planes, off.flyback, off.stack) == (1, 0, "none")


def test_50_and_38_per_generation() -> None:
    raw = {k: v for k, v in parse_raw(SI50).items() if k.startswith("scanimage.")}
    h = derive(Path("x.tif"), raw, None)
    assert (h.version, h.generation, h.planes, h.flyback, h.channels) == (
        "5.0", "5.0", 3, 2, [1, 3])  # fmt: skip
    h = derive(Path("x.tif"), parse_raw(SI38), None)
    assert (h.version, h.generation, h.planes, h.averaging) == ("3.8", "3.x", 1, 1)
    assert h.channels == [1]  # channel 2 saved but not acquired: not in the file
    assert h.frame_rate_hz == 7.8125


def _pages(path: Path, descriptions: list[str], *, static: str | None = None) -> None:
    """Pages written by tifffile, each with its own ImageDescription (and, for 2016+,
    the header text in Software as ScanImage does; tifffile cannot write the static
    block, so such files read as the 2015 generation would)."""
    with tifffile.TiffWriter(path) as tw:
        for d in descriptions:
            tw.write(np.zeros((4, 4), np.int16), description=d, software=static,
                     metadata=None)  # fmt: skip


def _frame(n: int, t: float, aux: str = "") -> str:
    return (f"frameNumbers = {n}\nacquisitionNumbers = 1\nframeNumberAcquisition = {n}\n"
            f"frameTimestamps_sec = {t:.6f}\nauxTrigger0 = [{aux}]\n")  # fmt: skip


def test_pages_sharing_a_header_are_one_frame_and_their_run_is_checked(tmp_path: Path) -> None:
    meta = "".join(f"scanimage.{line}\n" for line in SI2019_FAST.splitlines())
    good = [_frame(n, (n - 1) / 60) + meta for n in range(1, 13) for _ in (1, 2)]
    _pages(tmp_path / "a_00001_00001.tif", good)
    h = read_header(tmp_path / "a_00001_00001.tif")
    assert (h.generation, h.planes, h.flyback, h.channels) == ("2015", 4, 2, [1, 2])
    groups, problems = read_groups(tmp_path / "a_00001_00001.tif", 2)
    assert [g.number for g in groups] == list(range(1, 13)) and problems == []
    assert [g.page for g in groups[:3]] == [0, 2, 4]
    acq = load_acquisition([tmp_path / "a_00001_00001.tif"])
    assert [f.plane for f in acq.frames[:6]] == [0, 1, 2, 3, None, None]  # 2 flyback
    assert [f.movie_frame for f in acq.frames if f.plane == 1] == [0, 1]
    one = meta.replace("channelSave = [1;2]", "channelSave = 1")
    _pages(tmp_path / "b.tif", [_frame(n, n / 60) + one for n in range(1, 7) for _ in (1, 2)])
    acq = load_acquisition([tmp_path / "b.tif"])
    assert acq.header.channels == [1]
    (problem,) = acq.problems
    assert "b.tif: the header names 1 saved channel(s), but its pages come in runs of 2" in (
        problem
    )


def test_not_a_scanimage_file_and_a_cut_file_are_named(tmp_path: Path) -> None:
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, np.zeros((2, 2), np.uint8), description="frameNumbers = 1")
    with pytest.raises(ScopeFileError, match=r"plain\.tif: no ScanImage file metadata"):
        read_header(plain)
    _pages(tmp_path / "c.tif", [_frame(n, n / 60) + "scanimage.SI.VERSION_MAJOR = '2016b'\n"
                                for n in range(1, 40)])  # fmt: skip
    cut = tmp_path / "cut.tif"
    cut.write_bytes((tmp_path / "c.tif").read_bytes()[:3000])
    with pytest.raises(ScopeFileError, match=r"cut\.tif: not a complete ScanImage TIFF"):
        load_acquisition([cut])
    big_endian = tmp_path / "mm.tif"
    big_endian.write_bytes(b"MM\0*" + bytes(100))
    with pytest.raises(ScopeFileError, match=r"mm\.tif: not a little-endian TIFF"):
        read_header(big_endian)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_damaged_file_raises_only_a_named_error(tmp_path_factory: Any, data: Any) -> None:
    """Bytes flipped, cut or zeroed anywhere in a real-layout file: the reader gives a
    result or a ScopeFileError naming the file, never another exception or a hang."""
    folder = tmp_path_factory.mktemp("fuzz")
    version = data.draw(st.sampled_from(["3.8", "5.0", "5.1", "2019b", "2022.1.0"]))
    planes = 1 if version == "3.8" else 3
    acq = acquire(ScopeSettings(version=version, planes=planes, channels=(1, 2),
                                frames_per_file=40), folder, 0.0, 1.0, [0.5], seed=1)  # fmt: skip
    raw = bytearray(acq.files[0].read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(raw) - 1))
        how = data.draw(st.sampled_from(["flip", "zero", "digit", "cut"]))
        if how == "cut":
            del raw[at:]
            if not raw:
                raw = bytearray(b"I")
        elif how == "flip":
            raw[at] ^= 1 << data.draw(st.integers(0, 7))
        else:
            raw[at] = 0 if how == "zero" else ord(data.draw(st.sampled_from("09-.eX[]")))
    bad = folder / acq.files[0].name
    bad.write_bytes(bytes(raw))
    try:
        result = load_acquisition([bad])
    except ScopeFileError as exc:
        assert bad.name in str(exc)
    else:
        assert result.frames or result.problems
