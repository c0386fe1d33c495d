"""``--realtime``: the simulated rig paced to the wall clock (real time: generous bounds)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rig.schema import HardwareConfig, Protocol, load_model
from rig.session.session import SessionRequest, run_session

SHORT = (Path(__file__).parents[1] / "data" / "short_trials.yaml").read_text()


@pytest.mark.realtime
def test_realtime_session_keeps_pace_with_the_clock(root: Path, tmp_path: Path) -> None:
    (tmp_path / "short.yaml").write_text(SHORT)
    protocol = load_model(tmp_path / "short.yaml", Protocol)
    hardware = load_model(root / "hardware_configs/sim.yaml", HardwareConfig)
    request = SessionRequest(protocol, hardware, "rt", 3, 1, tmp_path / "data", realtime=True)
    start = time.monotonic()
    outcome = run_session(request)
    wall = time.monotonic() - start
    lines = (outcome.session_dir / "trials.jsonl").read_text().splitlines()
    device_s = json.loads(lines[-1])["t_end"]
    assert device_s > 1.0
    assert device_s * 0.95 <= wall <= device_s + 5.0  # paced: never ahead of the clock
    events = [
        json.loads(x) for x in (outcome.session_dir / "events.jsonl").read_text().split("\n") if x
    ]
    assert all(e["host_t"] >= e["t"] - 0.001 for e in events)  # received after it happened


def test_preflight_refuses_a_reward_the_valve_cannot_deliver(root: Path, tmp_path: Path) -> None:
    text = (
        (root / "protocols/tactile_T1.yaml").read_text().replace("volume_ul: 2.5", "volume_ul: 19")
    )
    (tmp_path / "big.yaml").write_text(text)
    protocol = load_model(tmp_path / "big.yaml", Protocol)
    hardware = load_model(root / "hardware_configs/sim.yaml", HardwareConfig)
    request = SessionRequest(protocol, hardware, "m", 10, 1, tmp_path / "data")
    with pytest.raises(ValueError, match=r"valve_left: 19.* recalibrate the valve or lower reward"):
        run_session(request)
    assert not (tmp_path / "data").exists()  # nothing was started


@pytest.mark.realtime
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGQUIT])
def test_a_terminating_signal_ends_the_session_after_the_running_trial(
    root: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    """Ctrl-C, a closed terminal or SSH session (SIGHUP), kill, Ctrl-\\: each stops the
    session between trials, records it and lets the device go (never exit 129 mid-trial)."""
    (tmp_path / "short.yaml").write_text(SHORT)
    env = {**os.environ, "PYTHONPATH": str(root)}
    cmd = [sys.executable, "-m", "rig.cli", "run", "--protocol", str(tmp_path / "short.yaml")]
    cmd += ["--subject", "s", "--trials", "100", "--data-dir", str(tmp_path), "--realtime"]
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    trials: list[Path] = []
    while time.monotonic() < deadline and not (trials and trials[0].read_text()):
        time.sleep(0.05)  # waiting for a real process in real time
        trials = list(tmp_path.glob("s/*/trials.jsonl"))
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    session = trials[0].parent
    meta = json.loads((session / "session.json").read_text())
    assert meta["status"] == "aborted"
    records = [json.loads(x) for x in trials[0].read_text().splitlines()]
    ends = [
        e
        for e in map(json.loads, (session / "events.jsonl").read_text().splitlines())
        if e["kind"] == "trial_end"
    ]
    assert 1 <= len(records) < 100
    assert len(records) == len(ends)  # every trial that ran was completed and recorded
    assert b"(aborted)" in out
