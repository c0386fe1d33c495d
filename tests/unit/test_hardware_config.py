"""Hardware configs: valve calibration arithmetic and located problems; the channel map
fits the device (names it has, no two rig channels on one device channel)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rig.devices.bpod.hardware import INPUT_EVENT_NAMES, PROFILES
from rig.schema import HardwareConfig, LoadError, ValveCalibration, load_model
from rig.schema.hardware import channel_problems

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
    assert len(lines) == 4
    assert lines[0].startswith(f"{path}:3:") and "channels.lick_left: the simulated rig" in lines[0]
    assert lines[1].startswith(f"{path}:4:") and "channels.lick_centre: unknown channel" in lines[1]
    assert "valves: a calibration of valve_right is required" in lines[2]
    assert lines[3].startswith(f"{path}:8:") and "points.1.volume_ul" in lines[3]


def test_the_simulated_rig_delivers_what_the_protocol_asks(root: Path) -> None:
    hw = load_model(root / "hardware_configs/sim.yaml", HardwareConfig)
    for side in ("left", "right"):
        open_s = hw.valve(side).open_time_s(2.5)
        assert hw.delivered_ul(side, open_s) == pytest.approx(2.5)


# -- the channel map (issue 14, item 2) -----------------------------------------------------
def _bpod_config(root: Path, tmp_path: Path, *edits: tuple[str, str]) -> Path:
    """The shipped emulated-Bpod config with ``(old line, new line)`` edits."""
    text = (root / "hardware_configs/bpod-emulator.yaml").read_text()
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "rig.yaml"
    path.write_text(text)
    return path


def _problems(path: Path) -> list[str]:
    with pytest.raises(LoadError) as info:
        load_model(path, HardwareConfig)
    return [str(p) for p in info.value.problems]


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


@pytest.mark.parametrize(
    ("channel", "shipped"),
    [("pole_drop", "PWM3"), ("pole_position", "PWM4"), ("go_cue", "BNC2"), ("trial_ttl", "BNC1")],
)
def test_an_output_on_a_valves_bpod_channel_is_refused(
    root: Path, tmp_path: Path, channel: str, shipped: str
) -> None:
    path = _bpod_config(root, tmp_path, (f"{channel}: {shipped}", f"{channel}: Valve1"))
    line = _line_of(path, f"{channel}: Valve1")
    assert _problems(path) == [
        f"{path}:{line}:{len(channel) + 5}: channels.{channel}: Valve1 is already valve_left's "
        "(channels.valve_left): rig outputs never share a device output"
    ]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("valve_left: Valve1", "valve_left: Valve9"), "'Valve9' is not a Bpod output line"),
        (("lick_left: Port1", "lick_left: Port9"), "'Port9' is not a Bpod input line"),
        (("lick_left: Port1", "lick_left: Valve1"), "'Valve1' is not a Bpod input line"),
        (("lick_left: Port1", "lick_left: Port1In"), "'Port1In' is not a Bpod input line"),
        (("valve_left: Valve1", "valve_left: Port3"), "'Port3' is not a Bpod output line"),
    ],
)
def test_a_channel_no_bpod_has_is_refused(
    root: Path, tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    path = _bpod_config(root, tmp_path, edit)
    (problem,) = _problems(path)
    channel = edit[1].split(":")[0]
    assert problem.startswith(f"{path}:{_line_of(path, edit[1])}:")
    assert f"channels.{channel}: {message} (" in problem


def test_every_line_of_every_known_bpod_has_a_valid_name() -> None:
    for hw in PROFILES.values():
        bases = {base for base, _, _ in INPUT_EVENT_NAMES.values()}
        inputs = [n for n in hw.input_names() if n.rstrip("0123456789") in bases]
        outputs = [n for n in hw.output_names() if n[:1] in "BWPVF" and "Code" not in n]
        for name in inputs:
            assert channel_problems(_raw(lick_left=name)) == [], name
        for name in outputs:
            assert channel_problems(_raw(valve_left=name)) == [], name


def _raw(**channels: str) -> dict[str, object]:
    return {"device": {"kind": "bpod"}, "channels": channels}


def test_two_inputs_share_a_device_input_only_when_the_config_says_so() -> None:
    both = {"lick_left": "Port1", "lick_right": "Port1"}
    assert channel_problems(_raw(**both)) == [
        ("channels.lick_right", "Port1 is already lick_left's (channels.lick_left): rig inputs "
         "share a device input only when shared_inputs lists them together")
    ]  # fmt: skip
    shared = {**_raw(**both), "shared_inputs": [["lick_left", "lick_right"]]}
    assert channel_problems(shared) == []
    apart = {
        **_raw(lick_left="Port1", lick_right="Port2", valve_left="Valve1"),
        "shared_inputs": [["lick_left", "lick_right"], ["lick_left", "valve_left"]],
    }
    assert channel_problems(apart) == [
        ("shared_inputs.0", "lick_left on Port1, lick_right on Port2: a group shares one "
         "device input"),
        ("shared_inputs.1.0", "lick_left is in group 0"),
        ("shared_inputs.1.1", "not an input (inputs: lick_left, lick_right, frame_clock, aux)"),
    ]  # fmt: skip


def test_an_input_and_an_output_of_one_name_are_two_bpod_lines() -> None:
    # BNC1 in (the frame clock) and BNC1 out (the trial TTL): the shipped config
    assert channel_problems(_raw(frame_clock="BNC1", trial_ttl="BNC1")) == []


def test_the_simulated_rig_and_the_lick_port_board_name_channels_as_the_protocols() -> None:
    for kind in ("sim", "lickport"):
        data = {"device": {"kind": kind}, "channels": {"lick_left": "lick_left",
                "valve_left": "valve_right", "valve_right": "valve_right"}}  # fmt: skip
        ((where, message),) = channel_problems(data)
        assert where == "channels.valve_left"
        assert "names its channels as the protocols do: map valve_left to valve_left" in message
    assert channel_problems({"device": {"kind": "bpod"}}) == [
        ("device.kind", "a Bpod needs its channels mapped (lick_left: Port1, ...)")
    ]


def test_every_shipped_hardware_config_loads(root: Path) -> None:
    for path in sorted((root / "hardware_configs").glob("*.yaml")):
        load_model(path, HardwareConfig)
