"""A simulated session imaged by the fake ScanImage (offset 2 s, drift 50 ppm, 1 % dropped
frames, 0.1 ms jitter) aligns with every trial epoch on its true frame."""

from __future__ import annotations

import bisect
import csv
import json
from pathlib import Path

import pytest

from rig.scope.align import AlignmentError, align
from rig.sim.scope import ScopeSettings, acquire
from tests.scope.sessions import simulated_session, trial_records

SETTINGS = ScopeSettings(offset_s=2.0, drift_ppm=50.0, drop_fraction=0.01, jitter_s=0.0001,
                         frames_per_file=400)  # fmt: skip


@pytest.fixture(scope="module")
def session(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulated_session(root, tmp_path_factory.mktemp("data"), "m1", 80)


@pytest.mark.parametrize("version", ["2016+", "5", "2019b"])  # with aux triggers
def test_every_epoch_lands_on_its_true_frame(session: Path, tmp_path: Path, version: str) -> None:
    records = trial_records(session)
    settings = ScopeSettings(**{**SETTINGS.__dict__, "version": version})
    scope = tmp_path / "scope"
    # the acquisition starts 1 s before the session's first trial, ends 2 s after its last
    acq = acquire(
        settings, scope, -1.0, records[-1]["t_end"] + 2, [r["t_start"] for r in records], 7
    )
    assert len(acq.files) > 1 and not all(acq.saved)  # several files, some frames dropped
    result = align(session, scope)
    assert result.fit.residual_max_s < 0.001
    assert result.fit.b == pytest.approx(1 + 50e-6, abs=1e-7)
    planes = settings.planes
    errors = []
    for row in result.rows:
        d = next(r for r in records if r["trial"] == row["trial"])["t_" + row["epoch"]]
        k = bisect.bisect_right(acq.frame_device_t, d)  # frame number of the true frame
        n = k - ((k - 1 - row["plane"]) % planes)
        expected = ("ok" if acq.saved[n - 1] else "dropped", n)
        if (row["status"], row["frame_number"]) != expected:
            errors.append((row, expected))
    assert errors == []
    assert len(result.rows) == len(records) * 4 * planes
    assert any(r["status"] == "dropped" for r in result.rows)  # reported, not guessed over
    with (session / "trial_frames.csv").open() as f:
        assert len(list(csv.DictReader(f))) == len(result.rows)
    fit = json.loads((session / "trial_frames.json").read_text())["clock_fit"]
    assert fit["by"] == "aux triggers" and fit["drift_ppm"] == pytest.approx(50, abs=0.1)


def test_an_acquisition_that_started_late_is_matched_by_its_triggers(
    session: Path, tmp_path: Path
) -> None:
    records = trial_records(session)
    late = records[10:]
    acquire(SETTINGS, tmp_path, late[0]["t_start"] - 0.5, late[-1]["t_end"],
            [r["t_start"] for r in late], 3)  # fmt: skip
    result = align(session, tmp_path)
    assert result.pairs[0][0] == 10 and result.fit.residual_max_s < 0.001
    assert {r["status"] for r in result.rows if r["trial"] <= 10} == {"before_start"}


def test_files_from_elsewhere_are_refused(session: Path, tmp_path: Path) -> None:
    with pytest.raises(AlignmentError, match=r"no \.tif files"):
        align(session, tmp_path)
    acquire(SETTINGS, tmp_path, 0, 5000, [t * 7.77 for t in range(500)], 1)
    with pytest.raises(AlignmentError, match=r"aux triggers, of which .* match this session's"):
        align(session, tmp_path)


def test_triggers_lost_with_their_dropped_frames_do_not_break_the_match(
    session: Path, tmp_path: Path
) -> None:
    records = trial_records(session)
    settings = ScopeSettings(**{**SETTINGS.__dict__, "drop_fraction": 0.15})
    acq = acquire(settings, tmp_path, -1.0, records[-1]["t_end"] + 2,
                  [r["t_start"] for r in records], 11)  # fmt: skip
    result = align(session, tmp_path)
    assert 0 < len(result.pairs) < len(records)  # some triggers went with their frames
    assert result.fit.residual_max_s < 0.001
    for row in result.rows:
        d = next(r for r in records if r["trial"] == row["trial"])["t_" + row["epoch"]]
        k = bisect.bisect_right(acq.frame_device_t, d)
        n = k - ((k - 1 - row["plane"]) % settings.planes)
        assert (row["status"], row["frame_number"]) == ("ok" if acq.saved[n - 1] else "dropped", n)
