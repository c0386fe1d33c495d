"""Hardware configs: valve calibration arithmetic and located problems."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rig.schema import HardwareConfig, LoadError, ValveCalibration, load_model

CAL = ValveCalibration(
    date=dt.date(2026, 11, 2),
    points=[
        {"open_s": 0.01, "volume_ul": 0.7},  # type: ignore[list-item]
        {"open_s": 0.02, "volume_ul": 1.6},  # type: ignore[list-item]
        {"open_s": 0.04, "volume_ul": 3.4},  # type: ignore[list-item]
    ],
    max_open_s=0.1,
)


def test_open_time_interpolates_between_points() -> None:
    assert CAL.open_time_s(1.6) == pytest.approx(0.02)
    assert CAL.open_time_s(2.5) == pytest.approx(0.03)
    with pytest.raises(ValueError, match=r"0.25 uL is outside the calibrated volumes \(0.7-3.4"):
        CAL.open_time_s(0.25)  # below the first point: not measured
    assert CAL.open_time_s(0.25, beyond_points=True) == pytest.approx(0.005)  # when asked


@given(st.floats(min_value=0.5, max_value=7.0))
def test_volume_and_open_time_are_inverse(volume: float) -> None:
    assert CAL.volume_ul(CAL.open_time_s(volume, beyond_points=True)) == pytest.approx(volume)


def test_a_volume_past_the_maximum_open_time_is_refused() -> None:
    with pytest.raises(ValueError, match=r"outside \(0, 0.1\]"):
        CAL.open_time_s(9.0, beyond_points=True)


def test_points_must_increase() -> None:
    with pytest.raises(ValueError, match="must both increase"):
        ValveCalibration(
            date=dt.date(2026, 1, 1),
            points=[{"open_s": 0.02, "volume_ul": 2}, {"open_s": 0.01, "volume_ul": 3}],  # type: ignore[list-item]
        )


def test_cross_field_problems_come_with_field_errors(tmp_path: Path) -> None:
    path = tmp_path / "rig.yaml"
    path.write_text(
        "name: x\n"
        "channels:\n"
        "  lick_left: Port1In\n"
        "  lick_centre: Port2In\n"
        "valves:\n"
        "  valve_left:\n"
        "    date: 2026-11-01\n"
        "    points: [{open_s: 0.01, volume_ul: 1}, {open_s: 0.02, volume_ul: two}]\n"
    )
    with pytest.raises(LoadError) as info:
        load_model(path, HardwareConfig)
    lines = [str(p) for p in info.value.problems]
    assert len(lines) == 3
    assert lines[0].startswith(f"{path}:4:") and "channels.lick_centre: unknown channel" in lines[0]
    assert "valves: a calibration of valve_right is required" in lines[1]
    assert lines[2].startswith(f"{path}:8:") and "points.1.volume_ul" in lines[2]


def test_the_simulated_rig_delivers_what_the_protocol_asks(root: Path) -> None:
    hw = load_model(root / "hardware_configs/sim.yaml", HardwareConfig)
    for side in ("left", "right"):
        open_s = hw.valve(side).open_time_s(2.5)
        assert hw.delivered_ul(side, open_s) == pytest.approx(2.5)


def test_stale_calibrations_are_named_with_their_age(root: Path) -> None:
    hw = load_model(root / "hardware_configs/sim.yaml", HardwareConfig)
    calibrated = hw.valve("left").date
    assert hw.stale_calibrations(calibrated + dt.timedelta(days=30)) == []
    warnings = hw.stale_calibrations(calibrated + dt.timedelta(days=31))
    assert len(warnings) == 2
    assert warnings[0].startswith("valve_left was calibrated 31 days ago")
    assert "recalibrate it" in warnings[0]
