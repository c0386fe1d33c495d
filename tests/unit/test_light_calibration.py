"""Light-power calibration: measured mW against command volts, interpolated piecewise
linearly, never extrapolated (a laser is not linear near its threshold); a stale or
future-dated calibration warns on a real rig and never on a simulated one (fixed today)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from rig.schema import HardwareConfig, load_model
from rig.schema.hardware import Device
from rig.schema.light import LightCalibration

# a laser with a threshold: nothing below 0.8 V, then steep, then nearly linear
THRESHOLD = LightCalibration(
    date=dt.date(2026, 11, 2),
    points=[
        {"volts": 0.8, "power_mw": 0.0},  # type: ignore[list-item]
        {"volts": 1.0, "power_mw": 0.3},  # type: ignore[list-item]
        {"volts": 1.2, "power_mw": 1.1},  # type: ignore[list-item]
        {"volts": 2.0, "power_mw": 5.4},  # type: ignore[list-item]
        {"volts": 4.5, "power_mw": 19.8},  # type: ignore[list-item]
    ],
)
CALIBRATED = dt.date(2026, 11, 2)  # the shipped configs' light
SHIPPED = ("sim.yaml", "sim-imaging.yaml", "bpod-emulator.yaml", "lickport-emulator.yaml")


def test_each_segment_is_its_own_line() -> None:
    assert THRESHOLD.volts_for(0.0) == pytest.approx(0.8)
    assert THRESHOLD.volts_for(0.15) == pytest.approx(0.9)  # within the first segment
    assert THRESHOLD.volts_for(0.7) == pytest.approx(1.1)  # the steep one
    assert THRESHOLD.volts_for(3.25) == pytest.approx(1.6)
    assert THRESHOLD.volts_for(19.8) == pytest.approx(4.5)
    # one straight line through the ends would be far off near threshold
    line = 0.8 + (4.5 - 0.8) * 0.7 / 19.8
    assert abs(THRESHOLD.volts_for(0.7) - line) > 0.1
    assert THRESHOLD.power_mw_at(1.1) == pytest.approx(0.7)
    assert THRESHOLD.power_mw_at(0.8) == 0.0


@pytest.mark.parametrize("power", [-0.01, 19.81, 25.0])
def test_no_power_outside_the_measured_points(power: float) -> None:
    with pytest.raises(ValueError, match=r"outside the calibrated powers \(0-19.8 mW, measured"):
        THRESHOLD.volts_for(power)


@pytest.mark.parametrize("volts", [0.0, 0.79, 4.6])
def test_no_voltage_outside_the_measured_points(volts: float) -> None:
    with pytest.raises(ValueError, match=r"outside the calibrated voltages \(0.8-4.5 V\)"):
        THRESHOLD.power_mw_at(volts)


@given(st.floats(min_value=0.0, max_value=19.8))
def test_power_and_volts_are_inverse(power: float) -> None:
    volts = THRESHOLD.volts_for(power)
    assert 0.8 <= volts <= 4.5
    assert THRESHOLD.power_mw_at(volts) == pytest.approx(power, abs=1e-9)


@given(st.floats(min_value=0.0, max_value=19.7), st.floats(min_value=0.001, max_value=0.1))
def test_more_power_needs_more_volts(power: float, more: float) -> None:
    assert THRESHOLD.volts_for(power + more) > THRESHOLD.volts_for(power)


@pytest.mark.parametrize(
    "points",
    [
        [(0.8, 0.0), (0.8, 1.0)],  # the same voltage twice
        [(0.8, 0.0), (1.0, 0.0)],  # the same power twice: which voltage gives it?
        [(1.0, 2.0), (0.9, 3.0)],  # falling voltage
        [(1.0, 0.0)],  # one point is no calibration
    ],
)
def test_points_must_rise(points: list[tuple[float, float]]) -> None:
    with pytest.raises(ValidationError):
        LightCalibration(
            date=CALIBRATED,
            points=[{"volts": v, "power_mw": p} for v, p in points],  # type: ignore[misc]
        )


def _shipped(root: Path, name: str) -> HardwareConfig:
    return load_model(root / "hardware_configs" / name, HardwareConfig)


def _real(hardware: HardwareConfig, **update: object) -> HardwareConfig:
    device = Device(kind=hardware.device.kind, url="serial:///dev/ttyACM0")
    return hardware.model_copy(update={"device": device, **update})


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("days", [0, 31, 10 * 365, -1])
def test_a_simulated_rigs_light_is_never_stale(root: Path, name: str, days: int) -> None:
    hardware = _shipped(root, name)
    assert hardware.light is not None and hardware.device.simulated
    assert {s.calibration.date for s in hardware.light.sources.values()} == {CALIBRATED}
    assert hardware.stale_light_calibrations(CALIBRATED + dt.timedelta(days=days)) == []


@pytest.mark.parametrize("name", ["bpod-emulator.yaml", "lickport-emulator.yaml"])
def test_a_real_rigs_stale_light_warns(root: Path, name: str) -> None:
    hardware = _real(_shipped(root, name))
    assert hardware.stale_light_calibrations(CALIBRATED + dt.timedelta(days=30)) == []
    assert hardware.stale_light_calibrations(CALIBRATED + dt.timedelta(days=31)) == [
        "light source laser's power was calibrated 31 days ago (2026-11-02); "
        "measure it again (limit: 30 days)"
    ]
    assert hardware.stale_light_calibrations(CALIBRATED - dt.timedelta(days=1)) == [
        "light source laser's calibration is dated in the future (2026-11-02)"
    ]
    # the valves' warnings are the valves' own: stale_calibrations did not change
    assert len(hardware.stale_calibrations(CALIBRATED + dt.timedelta(days=31))) == 2


def test_the_light_may_have_its_own_limit(root: Path) -> None:
    hardware = _real(_shipped(root, "bpod-emulator.yaml"))
    assert hardware.light is not None
    light = hardware.light.model_copy(update={"calibration_max_age_days": 7})
    hardware = hardware.model_copy(update={"light": light})
    assert hardware.stale_light_calibrations(CALIBRATED + dt.timedelta(days=7)) == []
    (warning,) = hardware.stale_light_calibrations(CALIBRATED + dt.timedelta(days=8))
    assert warning.endswith("(limit: 7 days)")
    assert hardware.stale_calibrations(CALIBRATED + dt.timedelta(days=8)) == []  # valves: 30


def test_device_simulated_is_the_valves_notion() -> None:
    for kind in ("sim", "bpod", "lickport"):
        for url in ("sim://", "emulate://bpod", "serial:///dev/ttyACM0", "tcp://10.0.0.2:5000"):
            device = Device(kind=kind, url=url)  # type: ignore[arg-type]
            assert device.simulated == device.simulated_valves
    assert not Device(kind="bpod", url="serial:///dev/ttyACM0").simulated
