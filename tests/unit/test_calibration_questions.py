"""Calibration points are questioned before saving, and no old calibration is lost.

Before: a 10x typo (2,211 mg typed for 221) was saved although the fit's intercept was far
from 0, and each save overwrote the one ``.bak`` of the hardware config."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from rig.control.calibration import calibration_request, questions, save_calibration
from rig.schema import HardwareConfig, load_model

GOOD = [(0.01, 0.8), (0.02, 1.8), (0.04, 3.7), (0.08, 7.6)]


def test_a_valve_like_line_raises_no_question() -> None:
    assert questions(GOOD) == []
    assert questions([(0.01, 0.7), (0.02, 1.6), (0.04, 3.4), (0.08, 7.1)]) == []  # sim.yaml's
    assert questions([(0.05, 2.0), (0.1, 4.6)]) == []


def test_a_ten_times_typo_is_named_with_its_point() -> None:
    typo = [(0.01, 0.8), (0.02, 22.11), (0.04, 3.7), (0.08, 7.6)]  # 2,211 mg / 100 pulses
    found = questions(typo)
    assert any("at an open time of 0 s" in q for q in found)
    (point,) = [q for q in found if "far from the line" in q]
    assert point.startswith("the point at 0.02 s (22.11 uL per opening)")
    assert "(1.77 uL expected there)" in point and "a digit too many or too few" in point
    low = questions([(0.01, 0.8), (0.02, 1.8), (0.04, 3.7), (0.08, 0.76)])  # 76 for 760
    assert any(q.startswith("the point at 0.08 s") for q in low)
    assert any("falls as the open time grows" in q for q in low)
    # three points only: the one whose removal leaves a valve-like line is named
    (three,) = [q for q in questions([(0.01, 0.8), (0.02, 22.11), (0.04, 3.7)]) if "far" in q]
    assert three.startswith("the point at 0.02 s")


def test_questioned_points_are_saved_only_when_confirmed(root: Path, tmp_path: Path) -> None:
    path = tmp_path / "rig.yaml"
    shutil.copy(root / "hardware_configs/sim.yaml", path)
    before = path.read_text()
    typo = [[0.01, 0.8], [0.02, 1.8], [0.04, 3.7], [0.08, 76.0]]  # rising: a valid file
    req = {"valve": "valve_left", "points": typo}
    with pytest.raises(ValueError, match=r"points: not saved, questioned: .*0\.08 s"):
        calibration_request("save_calibration", req, path)
    assert path.read_text() == before and not (tmp_path / "rig.yaml.history").exists()
    config, reply = calibration_request("save_calibration", {**req, "confirmed": True}, path)
    assert config.valves["valve_left"].points[3].volume_ul == 76.0  # the technician's call
    assert any("0.08 s" in q for q in reply["questions"])
    for bad, field in (([], "points: "), ([[0.01]], "points.0: "), ([[0.01, True]], "points.0")):
        with pytest.raises(ValueError, match=field):
            calibration_request("save_calibration", {"valve": "valve_left", "points": bad}, path)


def test_every_previous_version_is_kept_dated(root: Path, tmp_path: Path) -> None:
    path = tmp_path / "rig.yaml"
    shutil.copy(root / "hardware_configs/sim.yaml", path)
    versions = [path.read_text()]
    for i in range(3):  # three saves within one second: three versions, none overwritten
        save_calibration(path, "valve_left", [(0.01, 0.8 + i / 10), (0.04, 3.0)], dt.date.today())
        versions.append(path.read_text())
    kept = sorted((tmp_path / "rig.yaml.history").iterdir(), key=lambda p: p.stat().st_mtime_ns)
    assert [p.read_text() for p in kept] == versions[:3]
    assert all(p.suffix == ".yaml" and p.name[:4].isdigit() and "T" in p.name for p in kept)
    first = load_model(kept[0], HardwareConfig)  # the original calibration, whole
    assert first == load_model(root / "hardware_configs/sim.yaml", HardwareConfig)
    assert "every previous version of this file: rig.yaml.history/" in path.read_text()
