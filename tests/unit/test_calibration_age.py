"""A valve calibration's age: a real rig's stale (or future-dated) calibration is warned
about; a simulated valve's (the simulated rig's, an emulated Bpod's or lick-port board's)
belongs to the simulation and is never stale, whatever its date and today's. Run with a
fixed today, and through the controller's paths (hello, a calibration saved, a spot check)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from rig.control.calibration import calibration_request
from rig.control.server import Controller
from rig.schema import HardwareConfig, load_model
from rig.schema.hardware import Device

SHIPPED = ("sim.yaml", "sim-imaging.yaml", "bpod-emulator.yaml", "lickport-emulator.yaml")
CALIBRATED = dt.date(2026, 11, 2)  # the shipped configs' valves
REAL_PORT = "serial:///dev/ttyACM0"


def _shipped(root: Path, name: str) -> HardwareConfig:
    return load_model(root / "hardware_configs" / name, HardwareConfig)


def _real(hardware: HardwareConfig) -> HardwareConfig:
    """The shipped config as the real device (its url on a port, as the configs say)."""
    kind = hardware.device.kind
    return hardware.model_copy(update={"device": Device(kind=kind, url=REAL_PORT)})


def test_every_shipped_config_is_a_simulated_one(root: Path) -> None:
    assert sorted(p.name for p in (root / "hardware_configs").glob("*.yaml")) == sorted(SHIPPED)
    for name in SHIPPED:
        assert _shipped(root, name).device.simulated_valves, name


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("days", [0, 30, 31, 36, 2 * 365, 10 * 365, -1, -365])
def test_a_simulated_valves_calibration_is_never_stale(root: Path, name: str, days: int) -> None:
    hardware = _shipped(root, name)
    assert {cal.date for cal in hardware.valves.values()} == {CALIBRATED}
    assert hardware.stale_calibrations(CALIBRATED + dt.timedelta(days=days)) == []


@pytest.mark.parametrize("name", ["bpod-emulator.yaml", "lickport-emulator.yaml"])
def test_a_real_rigs_stale_calibration_still_warns(root: Path, name: str) -> None:
    hardware = _real(_shipped(root, name))
    assert not hardware.device.simulated_valves
    assert hardware.stale_calibrations(CALIBRATED + dt.timedelta(days=30)) == []
    left, right = hardware.stale_calibrations(CALIBRATED + dt.timedelta(days=31))
    assert left == (
        "valve_left was calibrated 31 days ago (2026-11-02); recalibrate it (limit: 30 days)"
    )
    assert right.startswith("valve_right was calibrated 31 days ago")
    two_years = hardware.stale_calibrations(CALIBRATED + dt.timedelta(days=2 * 365))
    assert [w.split(" (")[0] for w in two_years] == [
        "valve_left was calibrated 730 days ago",
        "valve_right was calibrated 730 days ago",
    ]
    assert hardware.stale_calibrations(CALIBRATED - dt.timedelta(days=1)) == [
        "valve_left's calibration is dated in the future (2026-11-02)",
        "valve_right's calibration is dated in the future (2026-11-02)",
    ]


def test_the_limit_is_the_configs_own(root: Path) -> None:
    hardware = _real(_shipped(root, "bpod-emulator.yaml"))
    hardware = hardware.model_copy(update={"calibration_max_age_days": 7})
    assert hardware.stale_calibrations(CALIBRATED + dt.timedelta(days=7)) == []
    assert len(hardware.stale_calibrations(CALIBRATED + dt.timedelta(days=8))) == 2


def test_an_emulated_fault_still_emulates_and_a_sim_kind_is_always_simulated() -> None:
    faulty = "emulate://bpod?profile=r2-fw23&fault=silent-after=2000"
    assert Device(kind="bpod", url=faulty).simulated_valves
    assert Device(kind="sim", url="sim://").simulated_valves
    assert not Device(kind="lickport", url=REAL_PORT).simulated_valves
    assert not Device(kind="bpod", url="tcp://10.0.0.2:5000").simulated_valves


# -- the controller's paths (the GUI's launcher and calibration dialog show these) ----------
def _config(root: Path, tmp_path: Path, name: str, url: str | None) -> Path:
    """A shipped config (on a real port when ``url``) with one valve calibrated long ago
    and the other dated far in the future: stale on any date this runs on."""
    text = (root / "hardware_configs" / name).read_text()
    text = text.replace("date: 2026-11-02", "date: 2001-01-01", 1)
    text = text.replace("date: 2026-11-02", "date: 2999-01-01", 1)
    if url is not None:
        old = next(line for line in text.splitlines() if line.startswith("  url: "))
        text = text.replace(old, f'  url: "{url}"')
    path = tmp_path / name
    path.write_text(text)
    return path


def _hello_warnings(root: Path, tmp_path: Path, path: Path) -> list[str]:
    controller = Controller(path, f"ipc://{tmp_path}/ctl", data_dir=tmp_path / "data",
                            protocols_dir=root / "protocols")  # fmt: skip
    try:
        warnings: list[str] = controller.handle("hello", {})["warnings"]
        return warnings
    finally:
        controller.context.term()


@pytest.mark.parametrize(
    ("name", "url", "real"),
    [
        ("sim.yaml", None, False),
        ("bpod-emulator.yaml", None, False),
        ("lickport-emulator.yaml", None, False),
        ("bpod-emulator.yaml", REAL_PORT, True),
        ("lickport-emulator.yaml", REAL_PORT, True),
    ],
)
def test_the_controller_agrees(
    root: Path, tmp_path: Path, name: str, url: str | None, real: bool
) -> None:
    path = _config(root, tmp_path, name, url)
    hardware = load_model(path, HardwareConfig)
    assert hardware.device.simulated_valves is not real
    right_future = "valve_right's calibration is dated in the future (2999-01-01)"
    everything = _hello_warnings(root, tmp_path, path)
    hello = [w for w in everything if w.startswith("valve")]  # the light's: its own tests
    assert all(w.startswith(("valve", "light source")) for w in everything), everything
    if real:
        left_old, right = hello
        assert left_old.startswith("valve_left was calibrated ") and "(2001-01-01)" in left_old
        assert right == right_future
    else:
        assert hello == []
    # the calibration dialog's replies: a spot check, then a new calibration of the left
    _, reply = calibration_request(
        "spot_check", {"valve": "valve_left", "open_s": 0.02, "pulses": 10, "weight_mg": 16.0},
        path,
    )  # fmt: skip
    assert reply["warnings"] == hello
    _, reply = calibration_request(
        "save_calibration", {"valve": "valve_left", "points": [[0.01, 0.7], [0.02, 1.6]]}, path
    )
    assert reply["warnings"] == ([right_future] if real else [])


def test_a_simulated_rigs_drifted_spot_check_still_warns(root: Path, tmp_path: Path) -> None:
    """A spot check is a weighing the technician made, not the calibration's age."""
    path = tmp_path / "sim.yaml"
    shutil.copy(root / "hardware_configs/sim.yaml", path)
    _, reply = calibration_request(
        "spot_check", {"valve": "valve_left", "open_s": 0.02, "pulses": 10, "weight_mg": 19.0},
        path,
    )  # fmt: skip
    (warning,) = reply["warnings"]
    assert warning.startswith("valve_left's spot check on") and "+19 %" in warning
