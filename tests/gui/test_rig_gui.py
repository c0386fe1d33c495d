"""``rig gui`` itself: it starts the rig's controller, and a SIGTERM with no session running
closes the window and takes that controller with it (no orphan ``rig serve``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from rig.control.client import ControllerClient, ControllerError

pytestmark = [pytest.mark.realtime]


def test_rig_gui_starts_its_controller_and_takes_it_down(root: Path, tmp_path: Path) -> None:
    endpoint = f"ipc://{tempfile.mkdtemp(prefix='rig-test-')}/ctl"
    gui = subprocess.Popen(
        [sys.executable, "-m", "rig.cli", "gui", "--rig", str(root / "hardware_configs/sim.yaml"),
         "--protocols", str(root / "protocols"), "--data-dir", str(tmp_path / "data"),
         "--endpoint", endpoint],
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"}, stdout=subprocess.PIPE,
    )  # fmt: skip
    client = ControllerClient(endpoint, timeout_s=10)  # generous: a loaded CI machine
    try:
        assert gui.stdout is not None
        assert gui.stdout.readline().decode().startswith("rig gui: ready")  # the window is up
        hello = client.request("hello")
        assert hello["rig"] == "sim" and hello["busy"] == ""
        gui.send_signal(signal.SIGTERM)
        assert gui.wait(30) == 0
        with pytest.raises(ControllerError, match="did not answer"):
            client.request("hello", timeout_s=2)  # the controller it started is gone too
    finally:
        if gui.poll() is None:
            gui.kill()
        client.close()
