"""``trial_frames.csv`` as analyses use it: read by ``pandas.read_csv`` as it is, and its
``movie_frame`` indexing each plane's movie loaded the way suite2p loads it (per plane and
channel, the files concatenated in order, pages picked by position; tifffile reads them):
5 planes, 2 channels, 3 files, the paper's 30 Hz."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas
import pytest
import tifffile

from rig.scope.align import align
from rig.sim.scope import ScopeSettings, acquire, scope_time
from tests.scope.sessions import simulated_session, trial_records

AUX = re.compile(r"auxTrigger0 = \[([^\]]*)\]")
NUMBER = re.compile(r"frameNumbers = (\d+)")


@pytest.fixture(scope="module")
def session(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulated_session(root, tmp_path_factory.mktemp("data"), "m1", 40)


def _suite2p_movies(files: list[Path], channels: int, cycle: int) -> list[list[list[str]]]:
    """movies[plane][channel] = the page descriptions of that plane's frames, as suite2p
    de-interleaves: pages in file order, plane p channel c at C*p + c, stepping C*cycle
    (flyback positions included in the cycle, as suite2p's nplanes with ignore_flyback)."""
    pages: list[str] = []
    for path in files:
        with tifffile.TiffFile(path) as tf:
            pages += [p.description for p in tf.pages]
    return [[pages[channels * p + c :: channels * cycle] for c in range(channels)]
            for p in range(cycle)]  # fmt: skip


@pytest.mark.parametrize("flyback", [0, 1])
def test_movie_frame_is_the_frame_holding_the_trials_trigger_in_each_planes_movie(
    session: Path, tmp_path: Path, flyback: int
) -> None:
    records = trial_records(session)
    start, stop = -1.0, records[-1]["t_end"] + 2
    total = int((stop - start) * 30)
    per_file = total // 3 + 2  # 3 files, split mid-volume; the last ends mid-volume
    assert per_file % (5 + flyback) and total % (5 + flyback)
    settings = ScopeSettings(planes=5, channels=(1, 2), flyback_frames=flyback,
                             frames_per_file=per_file, offset_s=2.0, drift_ppm=50.0,
                             jitter_s=0.0001, version="2022.1.0")  # fmt: skip
    scope = tmp_path / "scope"
    acq = acquire(settings, scope, start, stop, [r["t_start"] for r in records], 7)
    assert len(acq.files) == 3
    align(session, scope)
    table = pandas.read_csv(session / "trial_frames.csv")  # as it is: one header row
    assert len(table) == len(records) * 4 * 5
    assert list(table.columns[:5]) == ["trial", "epoch", "plane", "movie_frame", "frame_number"]
    side = json.loads((session / "trial_frames.json").read_text())
    assert side["acquisition"]["planes"] == 5 and side["acquisition"]["flyback_frames"] == flyback
    assert any("mid-volume" in f for f in side["flags"])
    movies = _suite2p_movies(sorted(acq.files), 2, 5 + flyback)
    acq_start = json.loads((scope / "ground_truth.json").read_text())["acq_start_scope_t"]
    held = {}  # the frame number whose header holds each aux trigger, from every page
    for path in sorted(acq.files):
        with tifffile.TiffFile(path) as tf:
            for page in tf.pages:
                for a in AUX.search(page.description).group(1).split():  # type: ignore[union-attr]
                    held[float(a)] = int(NUMBER.search(page.description).group(1))  # type: ignore[union-attr]
    on_flyback = 0
    for r in records:
        true_t = scope_time(settings, r["t_start"]) - acq_start  # the trigger, scope clock
        (k,) = {n for t, n in held.items() if abs(t - true_t) < 0.001}
        rows = table[(table.trial == r["trial"]) & (table.epoch == "start")]
        assert list(rows.plane) == [0, 1, 2, 3, 4]
        for plane, movie_frame in zip(rows.plane, rows.movie_frame, strict=True):
            if pandas.isna(movie_frame):
                assert k - 1 < 5 + flyback  # only in the first volume: no frame yet
                continue
            both = [movies[plane][c][int(movie_frame)] for c in (0, 1)]
            assert both[0] == both[1]  # the two channels' pages of one frame
            number = int(NUMBER.search(both[0]).group(1))  # type: ignore[union-attr]
            assert number == rows[rows.plane == plane].frame_number.item()
            # that plane's last frame by the trigger; the plane it came during: that frame
            assert k - 5 - flyback < number <= k
            assert (number == k) == (plane == (k - 1) % (5 + flyback))
        on_flyback += (k - 1) % (5 + flyback) >= 5
    assert flyback or not on_flyback
