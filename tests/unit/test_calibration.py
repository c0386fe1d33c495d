"""Valve calibration: the pulses on the device, the fit, the dated file, the spot check."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import shutil
from pathlib import Path

import pytest

from rig.control.calibration import (
    fit_line,
    per_opening,
    pulse_machine,
    save_calibration,
    save_spot_check,
)
from rig.schema import HardwareConfig, Protocol, load_model
from rig.schema.loader import LoadError
from rig.sim.subject import new_brain, simulated_device

TODAY = dt.date(2026, 11, 29)


def test_pulses_are_timed_on_the_device(root: Path) -> None:
    protocol = load_model(root / "protocols/tactile_T1.yaml", Protocol)
    hardware = load_model(root / "hardware_configs/sim.yaml", HardwareConfig)
    device = simulated_device(
        hardware, new_brain(protocol, hardware, random.Random(1)), random.Random(2)
    )
    device.queue(pulse_machine("valve_left", 0.02, 25, 0.1), 1)
    events = []
    while batch := device.poll():
        events += batch
    edges = [(e.t, e.value) for e in events if e.kind == "output" and e.name == "valve_left"]
    opens = [t for t, v in edges if v]
    closes = [t for t, v in edges if not v]
    assert len(opens) == len(closes) == 25
    assert all(c - o == pytest.approx(0.02, abs=1e-9) for o, c in zip(opens, closes, strict=True))
    assert all(b - a == pytest.approx(0.12, abs=1e-9) for a, b in itertools.pairwise(opens))


def test_pulse_limits() -> None:
    with pytest.raises(ValueError, match="pulses: 101"):
        pulse_machine("valve_left", 0.02, 101, 0.1)
    with pytest.raises(ValueError, match="open_s 0"):
        pulse_machine("valve_left", 0, 10, 0.1)


def test_fit_is_least_squares() -> None:
    fit = fit_line([(0.01, 0.9), (0.02, 1.9), (0.04, 3.9), (0.08, 7.9)])
    assert fit.slope_ul_per_s == pytest.approx(100.0)
    assert fit.intercept_ul == pytest.approx(-0.1)
    with pytest.raises(ValueError, match="two open times"):
        fit_line([(0.02, 1.0), (0.02, 1.1)])
    assert per_opening(250.0, 100) == 2.5
    with pytest.raises(ValueError):
        per_opening(-1, 100)


def test_saving_writes_a_dated_valid_config_and_keeps_the_old_one(
    root: Path, tmp_path: Path
) -> None:
    path = tmp_path / "rig.yaml"
    shutil.copy(root / "hardware_configs/sim.yaml", path)
    before = path.read_text()
    config = save_calibration(path, "valve_left", [(0.04, 3.0), (0.01, 0.8), (0.02, 1.5)], TODAY)
    cal = config.valves["valve_left"]
    assert cal.date == TODAY
    assert [(p.open_s, p.volume_ul) for p in cal.points] == [(0.01, 0.8), (0.02, 1.5), (0.04, 3.0)]
    assert load_model(path, HardwareConfig) == config  # what was returned is what is on disk
    (kept,) = (tmp_path / "rig.yaml.history").iterdir()  # the old file, dated, as it was
    assert kept.read_text() == before
    assert (
        config.valves["valve_right"]
        == load_model(root / "hardware_configs/sim.yaml", HardwareConfig).valves["valve_right"]
    )


def test_unusable_points_leave_the_file_alone(root: Path, tmp_path: Path) -> None:
    path = tmp_path / "rig.yaml"
    shutil.copy(root / "hardware_configs/sim.yaml", path)
    before = path.read_text()
    with pytest.raises(LoadError, match=r"valves\.valve_left\.points"):
        save_calibration(path, "valve_left", [(0.01, 2.0), (0.02, 1.0)], TODAY)
    assert path.read_text() == before
    assert not (tmp_path / "rig.yaml.tmp").exists()


def test_a_spot_check_that_drifted_is_warned_about(root: Path, tmp_path: Path) -> None:
    path = tmp_path / "rig.yaml"
    shutil.copy(root / "hardware_configs/sim.yaml", path)
    config, check = save_spot_check(path, "valve_left", 0.02, 1.62, TODAY)
    assert check.expected_ul == pytest.approx(1.6) and abs(check.drift_percent) < 10
    assert not [w for w in config.stale_calibrations(TODAY) if "spot check" in w]
    config, check = save_spot_check(path, "valve_left", 0.02, 1.9, TODAY)
    assert check.drift_percent == pytest.approx(18.75)
    (warning,) = [w for w in config.stale_calibrations(TODAY) if "spot check" in w]
    assert "valve_left" in warning and "+19 %" in warning and "recalibrate" in warning
    # a new calibration replaces the check along with the points
    config = save_calibration(path, "valve_left", [(0.01, 0.9), (0.02, 1.9)], TODAY)
    assert config.valves["valve_left"].spot_check is None
