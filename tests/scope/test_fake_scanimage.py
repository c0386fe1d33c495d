"""The fake ScanImage's files, checked per generation by independent readers (tifffile,
ScanImageTiffReader) against the header reference's rules (scanimage-headers.md): version
keys, the static block, every page's description, channel interleave, flyback, averaging,
disabled stacks, 3.x's single header, file names and order, ground_truth.json's pages."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

import pytest
import tifffile
from ScanImageTiffReader import ScanImageTiffReader

from rig.sim.scope import (
    VERSIONS,
    FrameClock,
    ScopeSettings,
    acquire,
    carries_aux_triggers,
)

RELEASES = ["3.8", "4.2", "5.0", "5.1", "2016b", "2019b", "5.7", "2022.1.0"]
BIG = {"2016b": 3, "2019b": 3, "5.7": 4, "2022.1.0": 4}
PREFIX = {"4.2": "scanimage.SI4.", "5.0": "scanimage.SI5.", "5.1": "scanimage.SI."}


def _run(tmp: Path, seconds: float = 2.0, triggers: tuple[float, ...] = (0.5,), **kw: Any):
    acq = acquire(ScopeSettings(**kw), tmp, 0.0, seconds, list(triggers), seed=3)
    truth = json.loads((tmp / "ground_truth.json").read_text())
    return acq, truth


def _descriptions(path: Path) -> list[str]:
    with ScanImageTiffReader(str(path)) as r:
        return [r.description(i) for i in range(r.shape()[0])]


def _file_keys(path: Path, version: str) -> dict[str, Any]:
    """The file-level keys, as a reader finds them per the reference's section 1."""
    if version in BIG:
        with tifffile.TiffFile(path) as tf:
            meta = tf.scanimage_metadata
            assert meta is not None and meta["version"] == BIG[version]
            return {k.removeprefix("SI."): v for k, v in meta["FrameData"].items()}
    text = _descriptions(path)[0]
    keys = tifffile.matlabstr2py(text)
    prefix = PREFIX.get(version, "state.")
    return {k.removeprefix(prefix): v for k, v in keys.items() if k.startswith(prefix)}


def _frame_number(description: str) -> int:
    m = re.search(r"^(?:frameNumbers|Frame Number|Frame Tag) = +(\d+)$", description, re.M)
    assert m, description[:200]
    return int(m.group(1))


def _release(keys: dict[str, Any], version: str) -> str:
    """The reference's version-string rule, from the keys as written."""
    if version == "3.8":
        return str(keys["software.version"])
    if version == "4.2":
        return str(keys["versionMajor"])
    if "VERSION_UPDATE" in keys:
        return f"{keys['VERSION_MAJOR']}.{keys['VERSION_MINOR']}.{keys['VERSION_UPDATE']}"
    if version == "5.0":
        return f"{keys['VERSION_MAJOR']}.{keys['VERSION_MINOR']}"
    return f"{keys['VERSION_MAJOR']}R{keys['VERSION_MINOR']}"


@pytest.mark.parametrize(
    ("version", "expected"),
    [("3.8", "3.8"), ("4.2", "4.2"), ("5.0", "5.0"), ("5.1", "5.1R0"), ("2016b", "2016bR0"),
     ("2019b", "2019bR0"), ("5.7", "5.7R1"), ("2022.1.0", "2022.1.0"), ("2016+", "2022.1.0"),
     ("5", "5.7R1"), ("3", "3.8")],
)  # fmt: skip
def test_version_keys_and_where_the_header_is(tmp_path: Path, version: str, expected: str) -> None:
    acq, truth = _run(tmp_path, version=version, channels=(1, 2), planes=1, frames_per_file=20)
    real = truth["layout"]["version"]
    keys = _file_keys(acq.files[0], real)
    assert _release(keys, real) == expected
    if real == "5.7":
        assert keys["VERSION_MAJOR"] == "5.7" and "VERSION_UPDATE" not in keys
    if real == "2022.1.0":
        assert keys["VERSION_MAJOR"] == 2022 and keys["VERSION_MINOR"] == 1
    if real == "5.0":
        assert keys["VERSION_MAJOR"] == 5 and keys["VERSION_MINOR"] == 0
    raw = acq.files[0].read_bytes()
    with tifffile.TiffFile(acq.files[0]) as tf:
        assert tf.is_scanimage and tf.is_bigtiff == (real in BIG)
        page = tf.pages[0]
        if real in BIG:
            assert raw[16:20] == bytes([1, 3, 3, 7])
            fmt, l1, l2 = struct.unpack_from("<III", raw, 20)
            assert fmt == BIG[real]
            text = raw[32 : 32 + l1 - 1].decode()
            assert page.tags["Software"].value == text.rstrip()  # the static text
            assert json.loads(page.tags["Artist"].value) == json.loads(
                raw[32 + l1 : 32 + l1 + l2 - 1]
            )
            assert "SI." not in page.description  # frame-varying data only
            with ScanImageTiffReader(str(acq.files[0])) as r:
                assert r.metadata().startswith(text)
        else:
            assert "Software" not in page.tags and raw[2] == 42
            with ScanImageTiffReader(str(acq.files[0])) as r:
                assert r.metadata() == ""
    assert set(RELEASES) | {"2016+", "5", "3"} == set(VERSIONS)


@pytest.mark.parametrize("version", RELEASES[1:])
def test_every_page_described_channels_interleaved(tmp_path: Path, version: str) -> None:
    acq, truth = _run(tmp_path, triggers=(0.51, 1.21), version=version, channels=(2, 1),
                      planes=3, frames_per_file=10, drop_fraction=0.1, jitter_s=1e-4)  # fmt: skip
    pages = [(i, d) for i, f in enumerate(acq.files) for d in _descriptions(f)]
    numbers = [_frame_number(d) for _, d in pages]
    for g in range(0, len(pages), 2):  # both pages of a frame: one description
        assert pages[g][1] == pages[g + 1][1] and pages[g][0] == pages[g + 1][0]
    runs = [len(list(grp)) for grp in _runs(numbers)]
    assert set(runs) == {2}  # run length of equal frameNumbers = channels
    assert numbers[::2] == [p[2] for p in truth["pages"]]
    assert numbers[::2] != list(range(1, len(numbers) // 2 + 1))  # gaps: dropped frames
    assert [n for n, ok in enumerate(acq.saved, 1) if ok] == numbers[::2]
    keys = _file_keys(acq.files[0], version)
    save = keys.get("hChannels.channelSave", keys.get("channelsSave"))
    assert save in ([[2], [1]], [2, 1])  # a column vector, in save order
    if carries_aux_triggers(version):  # in its raw frame, lost with it when it was dropped
        seen = [f"auxTrigger0 = [{t:.9f}]" in "".join(d for _, d in pages) for t in (0.51, 1.21)]
        assert seen == [acq.saved[15], acq.saved[36]] and any(seen)
    else:
        assert "auxTrigger" not in "".join(d for _, d in pages)
    if version in ("5.0", "4.2", "5.1"):  # 2015-: every page carries the SI keys
        assert all(PREFIX[version] + "stackNumSlices" in d or "hStackManager" in d
                   for _, d in pages)  # fmt: skip


def _runs(values: list[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for v in values:
        if out and out[-1][0] == v:
            out[-1].append(v)
        else:
            out.append([v])
    return out


def test_3x_has_one_header_per_file_and_no_frame_header(tmp_path: Path) -> None:
    acq, truth = _run(tmp_path, version="3.8", channels=(1, 3), planes=1, frames_per_file=12)
    assert [p.name for p in acq.files] == [f"rig001_{i:03d}.tif" for i in range(1, 6)]
    for f in acq.files:
        descriptions = _descriptions(f)
        head = descriptions[0]
        assert head.startswith("state.") and "\r" in head and "\n" not in head
        assert all(d == "" for d in descriptions[1:])  # the other pages: no description
        with tifffile.TiffFile(f, is_scanimage=False) as tf:  # every IFD, parsed
            assert [("ImageDescription" in p.tags) for p in tf.pages] == [True] + [False] * (
                len(tf.pages) - 1
            )
    keys = _file_keys(acq.files[0], "3.8")
    assert keys["acq.frameRate"] == 30 and keys["acq.numberOfZSlices"] == 1
    assert [keys[f"acq.savingChannel{n}"] for n in range(1, 5)] == [1, 0, 1, 0]
    assert [keys[f"acq.acquiringChannel{n}"] for n in range(1, 5)] == [1, 0, 1, 0]
    assert keys["acq.numberOfChannelsSave"] == 2 and keys["acq.framesPerFile"] == 12
    assert "frameNumbers" not in head and "auxTrigger" not in head
    assert len(truth["pages"]) == 60 and not carries_aux_triggers("3.8")
    with pytest.raises(ValueError, match="no fast z"):
        acquire(ScopeSettings(version="3", flyback_frames=1), tmp_path / "x", 0, 1, [])


@pytest.mark.parametrize("version", ["4.2", "5.0", "5.1", "2019b", "5.7", "2022.1.0"])
def test_flyback_frames_are_written_and_counted(tmp_path: Path, version: str) -> None:
    acq, truth = _run(tmp_path, version=version, planes=3, flyback_frames=2,
                      frames_per_file=7)  # fmt: skip
    pages = [d for f in acq.files for d in _descriptions(f)]
    assert [_frame_number(d) for d in pages] == list(range(1, len(pages) + 1))
    planes = [p[3] for p in truth["pages"]]
    assert planes[:10] == [0, 1, 2, -1, -1, 0, 1, 2, -1, -1]
    assert [p[4] for p in truth["pages"]][:6] == [0, 0, 0, 0, 0, 1]
    keys = _file_keys(acq.files[0], version)
    if version in ("4.2", "5.0"):
        assert (keys["stackNumSlices"], keys["fastZEnable"]) == (3, True)
        assert (keys["fastZNumDiscardFrames"], keys["fastZDiscardFlybackFrames"]) == (2, True)
        assert keys["fastZNumVolumes"] == 12
    elif version in BIG and BIG[version] == 4:
        assert (keys["hStackManager.actualNumSlices"], keys["hStackManager.enable"]) == (3, True)
        with_fb = keys["hStackManager.numFramesPerVolumeWithFlyback"]
        assert with_fb - keys["hStackManager.numFramesPerVolume"] == 2
        assert keys["hStackManager.actualNumVolumes"] == 12
    else:  # format 3 and 5.1: B = hFastZ.numFramesPerVolume - slicesPerAcq
        assert keys["hStackManager.slicesPerAcq"] == 3 and keys["hFastZ.enable"] is True
        assert keys["hFastZ.numFramesPerVolume"] - 3 == 2 == keys["hFastZ.numDiscardFlybackFrames"]
        assert keys["hFastZ.numVolumes"] == 12
        assert keys["hRoiManager.scanVolumeRate"] == pytest.approx(30 / 5)
    # 60 raw frames, 7 frames a file: files end mid-volume, the last one short
    assert [len(_descriptions(f)) for f in acq.files] == [7] * 8 + [4]
    assert truth["pages"][7][:2] == [1, 0] and truth["pages"][7][3] == 2  # file 2 opens at plane 2


@pytest.mark.parametrize(
    ("version", "per_file"), [("5.7", 5), ("2022.1.0", 5), ("2019b", 2), ("5.1", 2),
                              ("5.0", 2), ("3.8", 2)],
)  # fmt: skip
def test_averaging_steps_frame_numbers(tmp_path: Path, version: str, per_file: int) -> None:
    acq, truth = _run(tmp_path, seconds=3.0, triggers=(0.04, 0.11), version=version, planes=1,
                      averaging=4, frames_per_file=5)  # fmt: skip
    assert [p[2] for p in truth["pages"]] == list(range(4, 90, 4))  # 90 raw frames, 22 saved
    assert len(_descriptions(acq.files[0])) == per_file  # saved / raw counting
    assert [p[4] for p in truth["pages"]] == list(range(22))
    assert sum(acq.saved) == 88 and not any(acq.saved[88:])
    keys = _file_keys(acq.files[0], version)
    a = {"3.8": "acq.numAvgFramesSave", "5.0": "acqNumAveragedFrames"}
    assert keys[a.get(version, "hScan2D.logAverageFactor")] == 4
    if version != "3.8":
        first = _descriptions(acq.files[0])[0]
        assert _frame_number(first) == 4  # the last raw frame's description
    if carries_aux_triggers(version):  # 0.11 s is raw frame 4 (1-based), the 0.04 s one is lost
        assert "auxTrigger0 = [0.110000000]" in _descriptions(acq.files[0])[0]
        assert "0.04" not in "".join(_descriptions(acq.files[0]))
    with pytest.raises(ValueError, match="planar only"):
        acquire(ScopeSettings(averaging=2, planes=3), tmp_path / "x", 0, 1, [])


@pytest.mark.parametrize("version", ["5.1", "2019b", "5.7", "2022.1.0"])
def test_a_configured_but_disabled_stack(tmp_path: Path, version: str) -> None:
    acq, _ = _run(tmp_path, version=version, planes=1, configured_slices=41)
    keys = _file_keys(acq.files[0], version)
    assert keys["hStackManager.numSlices"] == 41 and keys["hFastZ.enable"] is False
    if version in ("5.7", "2022.1.0"):
        assert keys["hStackManager.enable"] is False
        assert keys["hStackManager.actualNumSlices"] == 1
    else:
        assert keys["hStackManager.slicesPerAcq"] == 1
    with pytest.raises(ValueError, match="no disabled stack"):
        acquire(ScopeSettings(version="5.0", planes=1, configured_slices=4), tmp_path, 0, 1, [])


@pytest.mark.parametrize("version", ["3.8", "5.0", "2022.1.0"])
def test_a_header_whose_channel_save_disagrees_with_the_pages(tmp_path: Path, version: str) -> None:
    acq, truth = _run(tmp_path, version=version, planes=1, channels=(1, 2), header_channels=(1,))
    keys = _file_keys(acq.files[0], version)
    said = {"3.8": "acq.numberOfChannelsSave", "5.0": "channelsSave"}
    assert keys[said.get(version, "hChannels.channelSave")] == 1  # a scalar: channel 1
    assert len(_descriptions(acq.files[0])) == 2 * len(truth["pages"])  # two channels written


def test_a_single_channel_is_a_channel_number(tmp_path: Path) -> None:
    acq, _ = _run(tmp_path, planes=1, channels=(3,))
    assert _file_keys(acq.files[0], "2022.1.0")["hChannels.channelSave"] == 3


@pytest.mark.parametrize(
    ("version", "names"),
    [("2022.1.0", "rig_00001_{:05d}.tif"), ("5.1", "rig_00001_{:05d}.tif"),
     ("4.2", "rig_001_{:03d}.tif"), ("3.8", "rig001_{:03d}.tif")],
)  # fmt: skip
def test_file_names_sort_in_acquisition_order(tmp_path: Path, version: str, names: str) -> None:
    acq, truth = _run(tmp_path, seconds=12.0, version=version, planes=1, frames_per_file=30)
    assert [p.name for p in acq.files] == [names.format(i) for i in range(1, 13)]
    natural = sorted(acq.files, key=lambda p: [int(t) if t.isdigit() else t
                                                for t in re.split(r"(\d+)", p.name)])  # fmt: skip
    assert natural == acq.files == sorted(acq.files)
    by_file = [sum(1 for p in truth["pages"] if p[0] == i) for i in range(len(acq.files))]
    assert by_file == [30] * 12
    for file_index, page, number, _, _ in truth["pages"][::37]:
        if version != "3.8":
            assert _frame_number(_descriptions(acq.files[file_index])[page]) == number


def test_the_frame_clock_pulses_for_every_raw_frame(tmp_path: Path) -> None:
    settings = ScopeSettings(planes=3, flyback_frames=1, jitter_s=1e-4, drop_fraction=0.2,
                             outage=(0.5, 0.7))  # fmt: skip
    acq = acquire(settings, tmp_path, 0.0, 1.5, [], seed=9)
    clock = FrameClock(settings, 0.0, seed=9)
    rises = []
    while len(rises) < 39:
        t = clock.next_time()
        rises += [t for _, v in clock.act(t) if v == 1]
    outside = [t for t in acq.frame_device_t if not 0.5 <= t < 0.7]
    assert rises[: len(outside)] == pytest.approx(outside)
    assert len(acq.frame_device_t) == 45 and not any(
        ok for ok, t in zip(acq.saved, acq.frame_device_t, strict=True) if 0.5 <= t < 0.7
    )
