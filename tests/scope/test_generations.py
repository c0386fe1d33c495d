"""Every ScanImage generation and edge case the fake writes (from the header reference's
rules), read by ``rig scope-info`` and aligned by ``rig align`` against the fake's ground
truth: version, planes, channels, frames, rate; and per trial epoch and plane the frame
(and its movie frame) the truth says."""

from __future__ import annotations

import bisect
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rig.scope.align import AlignmentError, align
from rig.scope.info import scope_info
from rig.sim.scope import ScopeSettings, acquire, acquisition_start
from tests.scope.sessions import simulated_session, trial_records

# (settings, expected: version, generation, planes, flyback, channels, averaging)
CASES: dict[str, tuple[dict[str, Any], tuple[str, str, int, int, list[int], int]]] = {
    "3.8 planar": ({"version": "3.8", "planes": 1}, ("3.8", "3.x", 1, 0, [1, 2], 1)),
    "3.8 averaged": ({"version": "3.8", "planes": 1, "averaging": 2},
                     ("3.8", "3.x", 1, 0, [1, 2], 2)),
    "4.2 drops": ({"version": "4.2", "drop_fraction": 0.02}, ("4.2", "4.x", 5, 0, [1, 2], 1)),
    "5.0 flyback, drops": ({"version": "5.0", "flyback_frames": 1, "drop_fraction": 0.02},
                           ("5.0", "5.0", 5, 1, [1, 2], 1)),
    "5.1 drops": ({"version": "5.1", "drop_fraction": 0.02}, ("5.1R0", "2015", 5, 0, [1, 2], 1)),
    "5.1": ({"version": "5.1"}, ("5.1R0", "2015", 5, 0, [1, 2], 1)),
    "2016b": ({"version": "2016b"}, ("2016bR0", "2016-2019", 5, 0, [1, 2], 1)),
    "2019b flyback": ({"version": "2019b", "flyback_frames": 2},
                      ("2019bR0", "2016-2019", 5, 2, [1, 2], 1)),
    "2019b averaged": ({"version": "2019b", "planes": 1, "averaging": 4},
                       ("2019bR0", "2016-2019", 1, 0, [1, 2], 4)),
    "5.7 stack disabled": ({"version": "5.7", "planes": 1, "configured_slices": 41},
                           ("5.7R1", "2020+", 1, 0, [1, 2], 1)),
    "2022 flyback, drops": ({"version": "2022.1.0", "flyback_frames": 1, "drop_fraction": 0.02},
                            ("2022.1.0", "2020+", 5, 1, [1, 2], 1)),
    "2022 averaged": ({"version": "2022.1.0", "planes": 1, "averaging": 3},
                      ("2022.1.0", "2020+", 1, 0, [1, 2], 3)),
    "2022 one channel": ({"version": "2022.1.0", "channels": (2,)},
                         ("2022.1.0", "2020+", 5, 0, [2], 1)),
}  # fmt: skip


@pytest.fixture(scope="module")
def session(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulated_session(root, tmp_path_factory.mktemp("data"), "g1", 24)


def _acquire(session: Path, scope: Path, kw: dict[str, Any]) -> tuple[ScopeSettings, Any]:
    records = trial_records(session)
    settings = ScopeSettings(**{"channels": (1, 2), "frames_per_file": 333, "offset_s": 2.0,
                                "drift_ppm": 50.0, "jitter_s": 0.0001, **kw})  # fmt: skip
    start, stop = acquisition_start(settings), records[-1]["t_end"] + 1.0
    return settings, acquire(settings, scope, start, stop, [r["t_start"] for r in records], 3)


def _with_frame_clock(session: Path, out: Path, frame_device_t: list[float], end: float) -> None:
    """A copy of the session whose events hold the frame clock's rising edges as the rig
    records them: every raw frame's start from the session's start to its end."""
    out.mkdir()
    shutil.copy(session / "trials.jsonl", out / "trials.jsonl")
    with (out / "events.jsonl").open("w") as f:
        for t in frame_device_t:
            if 0 <= t <= end:
                f.write(json.dumps({"kind": "input", "name": "frame_clock", "value": 1,
                                    "t": round(t, 4)}) + "\n")  # fmt: skip


def _expected(truth: dict[str, Any], d: float, plane: int) -> tuple[str, int | None]:
    """(status, movie_frame) of ``plane``'s frame at or before device time ``d``."""
    lay, times = truth["layout"], truth["frame_device_t"]
    m = bisect.bisect_right(times, d)  # the raw frame (1-based) during which d fell
    cycle = lay["planes"] + lay["flyback_frames"] if lay["planes"] > 1 else lay["averaging"]
    if lay["planes"] > 1:  # the last raw frame of that plane up to m
        n = max((k for k in range(max(1, m - cycle + 1), m + 1) if (k - 1) % cycle == plane),
                default=0)  # fmt: skip
    else:  # the averaged group holding m, named by its last raw frame
        n = next(k for k in range(m, m + cycle) if k % cycle == 0) if m else 0
    pages = truth["pages"]
    movie = {p[2]: i for i, p in enumerate(q for q in pages if q[3] == plane)}
    if n <= 0:
        return "before_start", None
    if n > pages[-1][2]:
        return "after_end", None
    return ("ok", movie[n]) if n in movie else ("dropped", None)


@pytest.mark.parametrize("case", CASES)
def test_scope_info_and_align_per_generation(session: Path, tmp_path: Path, case: str) -> None:
    kw, (version, generation, planes, flyback, channels, averaging) = CASES[case]
    _, acq = _acquire(session, tmp_path / "scope", kw)
    truth = json.loads((tmp_path / "scope/ground_truth.json").read_text())
    report = scope_info([str(tmp_path / "scope")])
    got = {k: v["value"] for k, v in report["derived"].items()}
    assert (got["version"], got["generation"], got["planes"], got["flyback_frames"],
            got["channels"], got["averaging"]) == (version, generation, planes, flyback,
                                                   channels, averaging)  # fmt: skip
    assert got["frame_rate_hz"] == 30.0 and report["problems"] == []
    assert report["frames"]["saved"] == len(truth["pages"])
    assert [f["name"] for f in report["files"]] == [p.name for p in acq.files]
    if kw.get("drop_fraction"):  # the frame numbers are read: the gaps are seen
        assert report["frames"]["gaps"] and any("gap" in f for f in report["flags"])
        assert report["frames"]["numbers_from"] == "frameNumbers"
    records = trial_records(session)
    target = tmp_path / "session"
    _with_frame_clock(session, target, acq.frame_device_t, records[-1]["t_end"])
    runs = [target]
    if generation in ("2016-2019", "2020+"):  # by the aux triggers too, with no frame clock
        bare = tmp_path / "bare"
        bare.mkdir()
        shutil.copy(session / "trials.jsonl", bare / "trials.jsonl")
        (bare / "events.jsonl").write_text("")
        runs.append(bare)
    for folder in runs:
        result = align(folder, tmp_path / "scope")
        assert result.fit.residual_max_s < 0.001, folder.name
        by = {(r["trial"], r["epoch"], r["plane"]): r for r in result.rows}
        errors = []
        for r in records:
            for epoch in ("start", "sample", "delay", "go"):
                for plane in range(planes):
                    row = by[(r["trial"], epoch, plane)]
                    want = _expected(truth, r["t_" + epoch], plane)
                    got_row = (row["status"], row["movie_frame"] if row["movie_frame"] != ""
                               else None)  # fmt: skip
                    if got_row != want:
                        errors.append((folder.name, r["trial"], epoch, plane, got_row, want))
        assert errors == []


def test_the_channels_a_header_names_apart_from_its_pages_are_reported(
    session: Path, tmp_path: Path
) -> None:
    _acquire(session, tmp_path / "scope", {"header_channels": (1,)})
    report = scope_info([str(tmp_path / "scope")])
    assert report["derived"]["channels"]["value"] == [1]
    assert any("runs of 2 sharing one frame header" in p for p in report["problems"])
    with pytest.raises(AlignmentError, match="disagree on the channels"):
        align(session, tmp_path / "scope")


def test_files_without_aux_triggers_need_the_frame_clock(session: Path, tmp_path: Path) -> None:
    _acquire(session, tmp_path / "scope", {"version": "5.0"})
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(session / "trials.jsonl", bare / "trials.jsonl")
    (bare / "events.jsonl").write_text("")
    with pytest.raises(AlignmentError, match=r"5\.0 files .* carry no aux triggers.*frame_clock"):
        align(bare, tmp_path / "scope")


def test_scope_info_prints_each_value_with_its_key_and_json(session: Path, tmp_path: Path) -> None:
    _acquire(session, tmp_path / "scope", {"version": "5.7", "planes": 1, "configured_slices": 41})
    cli = [sys.executable, "-m", "rig.cli", "scope-info", str(tmp_path / "scope")]
    out = subprocess.run(cli, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "5.7R1" in out.stdout and "SI.VERSION_MAJOR + 'R' + VERSION_MINOR" in out.stdout
    line = next(x for x in out.stdout.splitlines() if x.strip().startswith("planes"))
    assert line.split()[1] == "1" and "SI.hStackManager.actualNumSlices" in line
    assert "41" in next(x for x in out.stdout.splitlines() if "slices configured" in x)
    as_json = json.loads(subprocess.run([*cli, "--json"], capture_output=True, text=True).stdout)
    planes_json = as_json["derived"]["planes"]
    assert planes_json == {"value": 1, "source": "SI.hStackManager.actualNumSlices"}
