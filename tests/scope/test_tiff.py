"""ScanImage TIFFs as the fake writes them, read back for each version; bad files named."""

from __future__ import annotations

from pathlib import Path

import pytest
import tifffile
from ScanImageTiffReader import ScanImageTiffReader

from rig.scope.tiff import ScopeFileError, parse_header, read_scope_file
from rig.sim.scope import ScopeSettings, acquire


@pytest.mark.parametrize("version", ["2016+", "5", "3"])
def test_written_files_read_back(tmp_path: Path, version: str) -> None:
    settings = ScopeSettings(version=version, channels=(1, 2), planes=3, frames_per_file=50)
    acq = acquire(settings, tmp_path, 0.0, 4.0, [1.0, 2.5], seed=1)
    f = read_scope_file(acq.files[0])
    assert (f.version, f.frame_rate_hz, f.planes) == (version, 30.0, 3)
    assert len(f.frames) == 2 * 50  # one page per channel
    assert [h["frameNumbers"] for h in f.frames[:4]] == [1, 1, 2, 2]
    triggers = [t for path in acq.files for h in read_scope_file(path).frames
                for t in h["auxTrigger0"]]  # fmt: skip
    assert sorted(set(triggers)) == pytest.approx([1.0, 2.5])
    with tifffile.TiffFile(acq.files[0]) as tf:  # another reader agrees on pages and headers
        assert len(tf.pages) == 100
        assert parse_header(tf.pages[2].description)["frameNumbers"] == 2
    if version == "2016+":
        with ScanImageTiffReader(str(acq.files[0])) as reader:
            assert "SI.hRoiManager.scanFrameRate = 30" in reader.metadata()


def test_a_file_still_being_written_is_named(tmp_path: Path) -> None:
    acq = acquire(ScopeSettings(frames_per_file=100), tmp_path, 0.0, 2.0, [1.0])
    cut = tmp_path / "cut.tif"
    cut.write_bytes(acq.files[0].read_bytes()[:5000])
    with pytest.raises(ScopeFileError, match=r"cut\.tif: not a complete ScanImage TIFF"):
        read_scope_file(cut)


def test_a_file_without_metadata_is_named(tmp_path: Path) -> None:
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, [[0, 1], [2, 3]], description="frameNumbers = 1")
    with pytest.raises(ScopeFileError, match=r"plain\.tif: no ScanImage file metadata"):
        read_scope_file(plain)


@pytest.mark.parametrize("version", ["2016+", "5", "3"])
def test_the_fast_header_walk_agrees_with_scanimage_tiff_reader(
    tmp_path: Path, version: str
) -> None:
    from rig.scope.tiff import frame_headers

    settings = ScopeSettings(version=version, channels=(1, 2), drop_fraction=0.1, jitter_s=1e-4)
    acq = acquire(settings, tmp_path, 0.0, 10.0, [1.0, 2.5, 7.25], seed=2)
    for path in acq.files:
        full = read_scope_file(path).frames
        fast = frame_headers(path)
        assert fast == [
            (h["frameNumbers"], h["frameTimestamps_sec"], h["auxTrigger0"]) for h in full
        ]


def test_the_fast_walk_names_a_file_cut_short(tmp_path: Path) -> None:
    from rig.scope.tiff import frame_headers

    acq = acquire(ScopeSettings(frames_per_file=100), tmp_path, 0.0, 2.0, [1.0])
    cut = tmp_path / "cut.tif"
    cut.write_bytes(acq.files[0].read_bytes()[:20000])
    with pytest.raises(ScopeFileError, match=r"cut\.tif: cut short after \d+ pages"):
        frame_headers(cut)
