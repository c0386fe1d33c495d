"""``--realtime``: the simulated rig paced to the wall clock (real time: generous bounds)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from rig.schema import HardwareConfig, Protocol, load_model
from rig.session.session import SessionRequest, run_session

SHORT = """
name: short_trials
epochs:
  pre_sample_s: 0.05
  sample_s: 0.2
  delay_s: 0.2
  response_window_s: 0.5
  reward_consumption_s: 0.1
  timeout_s: 0.2
  stop_licking_s: 0.2
contexts:
  T1: {modality: tactile, mapping: {posterior: right, anterior: left}}
curriculum:
  - {context: T1}
"""


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
