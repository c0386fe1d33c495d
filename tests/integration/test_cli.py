"""The ``rig`` command as a user runs it: a real process, its exit code and its output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def rig(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [sys.executable, "-m", "rig.cli", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_validate_accepts_every_shipped_file(root: Path) -> None:
    files = sorted(str(p.relative_to(root)) for p in root.glob("protocols/*.yaml"))
    files += sorted(str(p.relative_to(root)) for p in root.glob("hardware_configs/*.yaml"))
    assert len(files) >= 6
    result = rig(root, "validate", *files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_validate_locates_every_planted_mistake(root: Path) -> None:
    result = rig(root, "validate", "tests/data/bad_protocol.yaml")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stdout.splitlines()
    f = "tests/data/bad_protocol.yaml"
    assert lines == [
        f"{f}:5:12: epochs.delay_s: Input should be greater than or equal to 0",
        f"{f}:6:21: epochs.go_cue.freq_hz: Input should be a valid number, "
        "unable to parse string as a number",
        f"{f}:7:3: epochs.respons_window_s: unknown field",
        f"{f}:14:15: curriculum.1.context: context 'T3' does not exist (defined: T1)",
    ]


def test_validate_reports_problems_of_several_files_at_once(root: Path, tmp_path: Path) -> None:
    hw = tmp_path / "rig.yaml"
    text = (root / "hardware_configs/sim.yaml").read_text()
    hw.write_text(text.replace("max_open_s: 0.2", "max_open_s: 2", 1))
    result = rig(root, "validate", str(hw), "tests/data/bad_protocol.yaml", "nope.yaml")
    assert result.returncode == 1
    out = result.stdout.splitlines()
    assert any(line.startswith(f"{hw}:") and "valves.valve_left.max_open_s" in line for line in out)
    assert sum("bad_protocol.yaml" in line for line in out) == 4
    assert any(line.startswith("nope.yaml:1:1: cannot read file") for line in out)


@pytest.mark.parametrize("kind", ["protocol", "hardware"])
def test_schema_prints_json_schema(root: Path, kind: str) -> None:
    result = rig(root, "schema", kind)
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    key = "curriculum" if kind == "protocol" else "valves"
    assert key in schema["properties"]


def test_run_headless_session_with_progress_and_summary(root: Path, tmp_path: Path) -> None:
    result = rig(
        root,
        "run",
        "--rig", "hardware_configs/sim.yaml",
        "--protocol", "protocols/tactile_T1.yaml",
        "--subject", "cli-mouse",
        "--trials", "60",
        "--seed", "3",
        "--data-dir", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "60/60 trials" in result.stderr
    assert "(completed)" in result.stdout and "trials   60:" in result.stdout
    sessions = list((tmp_path / "cli-mouse").iterdir())
    trials = next(p for p in sessions if p.is_dir()) / "trials.jsonl"
    assert len(trials.read_text().splitlines()) == 60


def test_run_refuses_an_invalid_protocol_without_a_traceback(root: Path, tmp_path: Path) -> None:
    result = rig(
        root, "run", "--protocol", "tests/data/bad_protocol.yaml", "--subject", "x",
        "--data-dir", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "curriculum.1.context" in result.stderr
    assert not (tmp_path / "x").exists()


def test_simulate_reproduces_the_shape_of_fig_1f(root: Path) -> None:
    result = rig(
        root, "simulate", "--curriculum", "protocols/continual_learning.yaml",
        "--mice", "10", "--seed", "1", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["contexts"] == ["T1", "T2", "T1'", "T2'", "A1"]
    ttc = data["trials_to_criterion"]
    assert all(len(v) == 10 for v in ttc.values())
    assert all(n is not None for n in ttc["T1"])  # every mouse reaches criterion in T1

    def median(label: str) -> float:
        values = sorted(v for v in ttc[label] if v is not None)
        return (values[(len(values) - 1) // 2] + values[len(values) // 2]) / 2

    assert median("T2") > median("T1")  # a reversal is slower than the first context
    assert median("T1'") < median("T2")  # a return is faster than the reversal
