"""Bpod client software written by others, unchanged, against the rig's emulated Bpod."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.realtime


def run_client(
    root: Path, profile: str, script: str, cwd: Path, ports: int, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Start ``rig emulate bpod``, run a client script on its ports, stop the emulator."""
    emulator = subprocess.Popen(
        [sys.executable, "-m", "rig.cli", "emulate", "bpod", "--profile", profile],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert emulator.stdout is not None
        paths = [emulator.stdout.readline().split()[-1] for _ in range(ports)]
        return subprocess.run(
            [sys.executable, str(root / "tests/data" / script), *paths],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        emulator.terminate()
        emulator.wait(10)


def test_pybpod_api_runs_trials_on_the_fw22_emulator(root: Path, tmp_path: Path) -> None:
    # pybpod writes its settings where it runs: in tmp_path
    result = run_client(root, "r2-fw22", "pybpod_client.py", tmp_path, 1, dict(os.environ))
    assert result.returncode == 0, result.stderr[-2000:]
    trials = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(trials) == 3
    for trial in trials:
        assert trial["ok"] is True
        # pybpod's own arithmetic (cycles x 0.0001) leaves float noise: compare to 1 us
        assert trial["States timestamps"] == {
            "A": [[0, pytest.approx(0.05, abs=1e-6)]],
            "B": [[pytest.approx(0.05, abs=1e-6), pytest.approx(0.35, abs=1e-6)]],
        }
        assert trial["Events timestamps"]["Tup"] == pytest.approx([0.05, 0.35], abs=1e-6)
        duration = trial["Trial end timestamp"] - trial["Trial start timestamp"]
        assert duration == pytest.approx(0.35, abs=1e-6)  # device µs from the cycle counter


def test_bpod_core_runs_queued_trials_on_the_fw23_emulator(root: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    env = {**os.environ, "HOME": str(home), "XDG_RUNTIME_DIR": str(home)}
    result = run_client(root, "r2-fw23", "bpod_core_client.py", tmp_path, 2, env)  # port, port2
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["firmware"] == [23, 10] and data["machine"] == 3
    rows = data["rows"]
    for row in rows:
        row["t"] = dt.datetime.fromisoformat(row["Time"])

    def first(trial: int, kind: str) -> dt.datetime:
        return next(r["t"] for r in rows if r["Trial"] == trial and r["Type"] == kind)

    for trial in (0, 1):
        start = first(trial, "TrialStart")
        tups = [r["t"] - start for r in rows if r["Trial"] == trial and r["Event"] == "Tup"]
        assert tups == [dt.timedelta(milliseconds=50), dt.timedelta(milliseconds=350)]
    # the second run() was queued with RunASAP: it starts one cycle after the first ends
    assert first(1, "TrialStart") - first(0, "TrialEnd") == dt.timedelta(microseconds=100)
