"""A real controller process (``rig serve``) on the simulated rig, for the GUI's tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rig.control.client import ControllerClient, ControllerError


@dataclass
class RunningController:
    endpoint: str
    data_dir: Path
    hardware: Path
    process: subprocess.Popen[bytes]


def start_controller(root: Path, tmp: Path, speed: float, seed: int = 7) -> RunningController:
    hardware = tmp / "sim.yaml"  # a copy: calibration rewrites it
    shutil.copy(root / "hardware_configs" / "sim.yaml", hardware)
    data_dir = tmp / "data"
    endpoint = f"ipc://{tempfile.mkdtemp(prefix='rig-test-')}/ctl"  # short: ipc paths are limited
    process = subprocess.Popen(
        [sys.executable, "-m", "rig.cli", "serve", "--rig", str(hardware), "--endpoint", endpoint,
         "--data-dir", str(data_dir), "--protocols", str(root / "protocols"),
         "--speed", str(speed), "--seed", str(seed)],
    )  # fmt: skip
    return RunningController(endpoint, data_dir, hardware, process)


def stop_controller(running: RunningController) -> None:
    if running.process.poll() is not None:
        return  # the test has shut it down already
    client = ControllerClient(running.endpoint, timeout_s=5)
    try:
        client.request("shutdown")
        running.process.wait(30)
    except (ControllerError, subprocess.TimeoutExpired):
        running.process.kill()
        running.process.wait()
    finally:
        client.close()


@pytest.fixture
def controller(root: Path, tmp_path: Path) -> Iterator[RunningController]:
    """A controller whose simulated rig runs 20 times faster than real time."""
    running = start_controller(root, tmp_path, speed=20.0)
    yield running
    stop_controller(running)
