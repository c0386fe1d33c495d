"""The task on the emulated lick-port board: the real firmware in a simulated Uno, the
real client over the harness's pty, the subject's simulated mouse at the board's pins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rig.schema import HardwareConfig, Protocol, load_model
from tests.integration.test_session import check_trial_against_events

pytestmark = pytest.mark.slow


def fast_config(root: Path, tmp_path: Path) -> Path:
    """lickport-emulator.yaml with the board as fast as it runs; its heartbeat timeout
    longer than the host's wall-clock heartbeats can be late on a loaded CI machine."""
    config = yaml.safe_load((root / "hardware_configs/lickport-emulator.yaml").read_text())
    config["device"]["url"] = "emulate://lickport?mode=fast"
    config["lickport"]["heartbeat_timeout_s"] = 5.0
    path = tmp_path / "lickport-fast.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_t1_runs_100_trials_on_the_real_firmware(root: Path, tmp_path: Path) -> None:
    """The issue's command with ``--trials 100``: every record passes the checks the
    simulated rig's records pass, re-derived from the board's own events."""
    rig = fast_config(root, tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "rig.cli", "run", "--rig", str(rig), "--protocol",
         "protocols/tactile_T1.yaml", "--subject", "lp1", "--trials", "100", "--seed", "4",
         "--data-dir", str(tmp_path / "data")],
        cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    (session,) = (tmp_path / "data" / "lp1").glob("2*")
    meta = json.loads((session / "session.json").read_text())
    assert meta["status"] == "completed" and meta["virtual_time"] is False
    records = [json.loads(x) for x in (session / "trials.jsonl").read_text().splitlines()]
    assert [r["trial"] for r in records] == list(range(1, 101))
    events = [json.loads(x) for x in (session / "events.jsonl").read_text().splitlines()]
    protocol = load_model(root / "protocols/tactile_T1.yaml", Protocol)
    hardware = load_model(rig, HardwareConfig)
    for record in records:
        check_trial_against_events(
            record, [e for e in events if e["trial"] == record["trial"]], protocol, hardware
        )
    # the board starts each trial at the exit of the one before: no dead time
    assert {r["dead_time_ms"] for r in records[1:]} == {0.0}
    outcomes = {r["outcome"] for r in records}
    assert "hit" in outcomes and len(outcomes) >= 2  # the mouse really did the task


@pytest.mark.realtime
def test_rig_emulate_lickport_serves_the_board_until_sigterm(root: Path) -> None:
    """What another program sees: a port that answers as a board, then a clean exit."""
    import signal

    from rig.devices.lickport import codec
    from rig.devices.lickport.client import LickportClient
    from rig.transport.serial_port import SerialTransport

    emulator = subprocess.Popen(
        [sys.executable, "-m", "rig.cli", "emulate", "lickport", "--seed", "2"],
        cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert emulator.stdout is not None
        line = emulator.stdout.readline()
        assert line.startswith("port: /dev/pts/"), line + emulator.stderr.read()
        client = LickportClient(SerialTransport(line.split()[1], codec.BAUD))
        hello = client.connect(boot_s=10)
        assert (hello.board, hello.protocol, hello.max_states) == ("uno", 1, 20)
        status = client.status()
        assert not status.running and status.t_us > 0
        client.close()
    finally:
        emulator.send_signal(signal.SIGTERM)
        assert emulator.wait(15) == 0


@pytest.mark.realtime
def test_a_board_other_than_the_configured_one_is_refused(root: Path, tmp_path: Path) -> None:
    config = yaml.safe_load((root / "hardware_configs/lickport-emulator.yaml").read_text())
    config["lickport"]["board"] = "mega"
    rig = tmp_path / "mega.yaml"
    rig.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [sys.executable, "-m", "rig.cli", "run", "--rig", str(rig), "--protocol",
         "protocols/tactile_T1.yaml", "--subject", "lp2", "--trials", "1",
         "--data-dir", str(tmp_path / "data")],
        cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    assert "rig run: the session stopped:" in result.stderr
    assert "the board is an Arduino uno" in result.stderr
    assert "Traceback" not in result.stderr
    assert "lickport.board: mega" in result.stderr
