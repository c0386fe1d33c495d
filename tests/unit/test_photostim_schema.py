"""The protocol's photostim: section and the hardware config's light: section: each bad
field refused at its file, line and field; a protocol checked against the rigs given with
it (sites, powers within the calibration, a masking LED), located in the protocol; the
shipped photoinhibition protocols valid through the real ``rig validate``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rig.schema import HardwareConfig, LoadError, Protocol, load_model
from rig.schema.validate import validate_files

PROTOCOL = """\
name: p
contexts:
  T1: {{modality: tactile, mapping: {{posterior: right, anterior: left}}}}
curriculum:
  - {{context: T1}}
  - {{context: T1}}
photostim:
  sites:
    bilateral_ALM: {{power_mw: {power}}}
  windows:
    - {{epoch: {epoch}, duration_s: {duration}}}
  waveform: {{shape: {shape}, ramp_down_s: {ramp}}}
  trials: {{mode: {mode}, fraction: {fraction}, max_consecutive: {cap}}}
  masking: {{freq_hz: 10, flash_s: {flash}}}
  early_lick: {early}
"""
GOOD = {
    "power": 1.5, "epoch": "delay", "duration": 1.2, "shape": "sinusoid", "ramp": 0.1,
    "mode": "random", "fraction": 0.25, "cap": 3, "flash": 0.001, "early": "run_on",
}  # fmt: skip

# field -> (bad value, line of the value, field path, message start); the column is the value's
BAD = {
    "power": (-1, 9, "photostim.sites.bilateral_ALM.power_mw", "Input should be greater"),
    "epoch": ("pre_sample", 11, "photostim.windows.0.epoch", "Input should be 'sample'"),
    "duration": (60, 11, "photostim.windows.0.duration_s", "Input should be less than"),
    "shape": ("square", 12, "photostim.waveform.shape", "Input should be 'constant'"),
    "ramp": (-0.1, 12, "photostim.waveform.ramp_down_s", "Input should be greater"),
    "fraction": (1.5, 13, "photostim.trials.fraction", "Input should be less than"),
    "cap": (0, 13, "photostim.trials.max_consecutive", "Input should be greater"),
    "flash": (0.2, 14, "photostim.masking.flash_s", "must be shorter than 1/freq_hz"),
    "early": ("restart", 15, "photostim.early_lick", "Input should be 'run_on'"),
}


def _write(tmp_path: Path, name: str = "p.yaml", **values: object) -> Path:
    path = tmp_path / name
    path.write_text(PROTOCOL.format(**{**GOOD, **values}))
    return path


def test_the_good_section_loads(tmp_path: Path) -> None:
    protocol = load_model(_write(tmp_path), Protocol)
    assert protocol.photostim is not None
    assert protocol.photostim.waveform.freq_hz == 40.0  # the default
    assert protocol.photostim.masking.enabled


@pytest.mark.parametrize("field", sorted(BAD))
def test_each_bad_field_is_refused_where_it_is(tmp_path: Path, field: str) -> None:
    value, line, where, message = BAD[field]
    path = _write(tmp_path, **{field: value})
    key = f"{where.rsplit('.', 1)[-1]}: {value}"
    col = path.read_text().splitlines()[line - 1].index(key) + len(key) - len(str(value)) + 1
    with pytest.raises(LoadError) as exc:
        load_model(path, Protocol)
    (problem,) = exc.value.problems
    assert (problem.file, problem.line, problem.col, problem.path) == (str(path), line, col, where)
    assert problem.message.startswith(message), problem.message


def test_an_unknown_rule_and_a_missing_step(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    text = PROTOCOL.format(**GOOD).replace(
        "{mode: random, fraction: 0.25, max_consecutive: 3}", "{mode: blocks, from_step: 3}"
    )
    path.write_text(text.replace("duration_s: 1.2}", "duration_s: 1.2, stop_s: 2}"))
    with pytest.raises(LoadError) as exc:
        load_model(path, Protocol)
    found = {(p.line, p.path): p.message for p in exc.value.problems}
    assert found == {
        (11, "photostim.windows.0.stop_s"): "unknown field",
        (13, "photostim.trials.from_step"): "step 3 does not exist (the curriculum has 2)",
    }


def test_a_constant_has_no_frequency(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        PROTOCOL.format(**GOOD).replace("{shape: sinusoid,", "{shape: constant, freq_hz: 40,")
    )
    with pytest.raises(LoadError) as exc:
        load_model(path, Protocol)
    (problem,) = exc.value.problems
    assert (problem.line, problem.path) == (12, "photostim.waveform.freq_hz")
    assert problem.message == "only a sinusoid has a frequency"


def test_a_protocol_without_photostim_gives_no_light(root: Path) -> None:
    assert load_model(root / "protocols/tactile_T1.yaml", Protocol).photostim is None


# -- against a rig ----------------------------------------------------------------------------
def test_a_site_the_rig_lacks_is_located_in_the_protocol(root: Path, tmp_path: Path) -> None:
    path = _write(tmp_path)
    path.write_text(path.read_text().replace("bilateral_ALM:", "left_PFC:"))
    lickport = root / "hardware_configs/lickport-emulator.yaml"
    (problem,) = validate_files([path, lickport])
    assert (problem.file, problem.line, problem.col) == (str(path), 9, 5)  # the site's name
    assert problem.path == "photostim.sites.left_PFC"
    assert problem.message == "rig 'lickport-emulator' has no site 'left_PFC' (bilateral_ALM)"


@pytest.mark.parametrize(
    ("power", "shape", "ok"),
    [(4.95, "sinusoid", True), (4.96, "sinusoid", False), (9.9, "constant", True),
     (10.0, "constant", False)],
)  # fmt: skip
def test_a_power_outside_the_calibration_is_refused(
    root: Path, tmp_path: Path, power: float, shape: str, ok: bool
) -> None:
    """sim.yaml's laser is calibrated to 19.8 mW; bilateral_ALM scans two spots, and a
    sinusoid's peak is twice its mean: 4.95 mW mean at each spot is 19.8 mW at the peak."""
    path = _write(tmp_path, power=power, shape=shape)
    problems = validate_files([path, root / "hardware_configs/sim.yaml"])
    if ok:
        assert problems == []
        return
    (problem,) = problems
    assert (problem.line, problem.col) == (9, 31)
    assert problem.path == "photostim.sites.bilateral_ALM.power_mw"
    assert "from source 'laser' of rig 'sim', outside its calibrated powers (0-19.8 mW" in (
        problem.message
    )


def test_masking_needs_a_masking_led(root: Path, tmp_path: Path) -> None:
    hardware = tmp_path / "hardware_configs" / "rig.yaml"
    hardware.parent.mkdir()
    text = (root / "hardware_configs/lickport-emulator.yaml").read_text()
    hardware.write_text(text.split("  masking:")[0])
    path = _write(tmp_path)
    (problem,) = validate_files([path, hardware])
    assert (problem.line, problem.path) == (14, "photostim.masking")
    assert "has no masking LED" in problem.message
    path.write_text(path.read_text().replace("masking: {", "masking: {enabled: false, "))
    assert validate_files([path, hardware]) == []


def test_a_rig_without_light(root: Path, tmp_path: Path) -> None:
    hardware = tmp_path / "hardware_configs" / "dark.yaml"
    hardware.parent.mkdir()
    hardware.write_text((root / "hardware_configs/sim.yaml").read_text().split("light:")[0])
    assert load_model(hardware, HardwareConfig).light is None
    path = _write(tmp_path)
    (problem,) = validate_files([path, hardware])
    assert (problem.line, problem.col, problem.path) == (7, 1, "photostim")
    assert problem.message.startswith("rig 'sim' has no light")
    assert validate_files([path]) == []  # alone: the pre-flight check compares it with its rig


# -- the hardware config's light: section ----------------------------------------------------
# case -> ((text, its replacement), field path, message start, text on the problem's line)
LIGHT_CASES = {
    "a site on a missing source": (
        ("source: laser\n      location: ALM, left", "source: lazer\n      location: ALM, left"),
        "light.sites.left_ALM.source", "no source 'lazer' (laser)", "source: lazer",
    ),
    "an unmapped output": (
        ("  light_1: light_1\n", ""), "light.sources.laser.output",
        "light_1 is not in channels: map it to a device output", "      output: light_1",
    ),
    "an output the sim has not": (
        ("  light_1: light_1\n", "  light_1: WavePlayer1:1\n"), "channels.light_1",
        "the simulated rig names its channels as the protocols do", "light_1: WavePlayer1:1",
    ),
    "a point above the driver's input": (
        ("max_volts: 4.5", "max_volts: 4.0"), "light.sources.laser.calibration.points",
        "a point above max_volts (4.0 V)", "- {volts: 0.8, power_mw: 0.0}",
    ),
    "powers that fall": (
        ("{volts: 1.2, power_mw: 1.1}", "{volts: 1.2, power_mw: 0.2}"),
        "light.sources.laser.calibration.points.2",
        "voltages and powers must both increase from point to point", "power_mw: 0.2}",
    ),
    "a galvo beyond 10 V": (
        ("{x_v: -0.282, y_v: 0.47}]\n    right", "{x_v: -12, y_v: 0.47}]\n    right"),
        "light.sites.left_ALM.spots.0.x_v", "Input should be greater than or equal to -10",
        "x_v: -12",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(LIGHT_CASES))
def test_light_problems_are_located(root: Path, tmp_path: Path, case: str) -> None:
    (old, new), where, message, at = LIGHT_CASES[case]
    text = (root / "hardware_configs/sim.yaml").read_text()
    assert text.count(old) == 1
    text = text.replace(old, new)
    path = tmp_path / "hardware_configs" / "rig.yaml"
    path.parent.mkdir()
    path.write_text(text)
    (problem,) = validate_files([path])
    assert (problem.file, problem.path) == (str(path), where)
    assert problem.message.startswith(message), problem.message
    (line,) = [i for i, t in enumerate(text.splitlines(), 1) if at in t]
    assert problem.line == line


def test_a_bpod_light_on_a_waveplayer_channel_or_a_line(root: Path, tmp_path: Path) -> None:
    text = (root / "hardware_configs/bpod-emulator.yaml").read_text()
    path = tmp_path / "hardware_configs" / "bpod.yaml"
    path.parent.mkdir()
    for device, ok in (("WavePlayer1:1", True), ("BNC2", False), ("Flex1", True),
                       ("WavePlayer1:9", False), ("Port3", False)):  # fmt: skip
        path.write_text(text.replace("light_1: WavePlayer1:1", f"light_1: {device}"))
        problems = [p.message for p in validate_files([path])]
        assert (problems == []) is ok, (device, problems)
    path.write_text(text.replace("light_1: WavePlayer1:1", "light_1: WavePlayer1:9"))
    (problem,) = validate_files([path])
    assert "or an Analog Output Module channel, WavePlayer1:1..WavePlayer9:8" in problem.message


def test_the_lickport_board_has_one_light_output(root: Path, tmp_path: Path) -> None:
    text = (root / "hardware_configs/lickport-emulator.yaml").read_text()
    path = tmp_path / "hardware_configs" / "lp.yaml"
    path.parent.mkdir()
    path.write_text(text.replace("output: light_1", "output: light_2"))
    (problem,) = validate_files([path])
    assert problem.path == "light.sources.laser.output"
    assert problem.message == "the lick-port board has one light output (its DAC): light_1"


# -- the shipped files through the real command ----------------------------------------------
@pytest.mark.parametrize("protocol", ["photoinhibition.yaml", "photoinhibition_fraction.yaml"])
def test_the_shipped_protocols_validate_against_every_shipped_rig(
    root: Path, protocol: str
) -> None:
    configs = sorted(str(p.relative_to(root)) for p in root.glob("hardware_configs/*.yaml"))
    result = subprocess.run(
        [sys.executable, "-m", "rig.cli", "validate", f"protocols/{protocol}", *configs],
        cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    photostim = load_model(root / "protocols" / protocol, Protocol).photostim
    assert photostim is not None
    assert photostim.waveform.shape == "sinusoid" and photostim.waveform.freq_hz == 40
    assert photostim.waveform.ramp_down_s == 0.1
    assert {w.duration_s for w in photostim.windows} == {1.2}
    assert {w.epoch for w in photostim.windows} == {"sample", "delay", "response"}
    assert photostim.masking.enabled and photostim.masking.freq_hz == 10
    assert photostim.masking.flash_s == 0.001


def test_the_papers_blocks(root: Path) -> None:
    protocol = load_model(root / "protocols/photoinhibition.yaml", Protocol)
    assert protocol.photostim is not None
    trials = protocol.photostim.trials
    assert trials.mode == "blocks" and (trials.off_trials, trials.on_trials) == (100, 100)
    assert protocol.step_labels()[trials.from_step - 1] == "T2'"  # after the 3rd reversal
