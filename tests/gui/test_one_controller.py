"""One controller per rig: a second ``rig serve`` for the rig refuses and says where the
first is; ``rig gui`` attaches to the running one by itself (no second writer of the
session); the rig's lock goes with the process that held it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rig.control.client import ControllerClient
from rig.control.owner import ControllerLock, RigTaken, running_controller
from tests.gui.conftest import RunningController

pytestmark = [pytest.mark.realtime]


def _plain_rig_gui(controller: RunningController, root: Path) -> subprocess.Popen[str]:
    """``rig gui`` for the controller's rig, with no endpoint given (offscreen)."""
    return subprocess.Popen(
        [sys.executable, "-m", "rig.cli", "gui", "--rig", str(controller.hardware),
         "--protocols", str(root / "protocols"), "--data-dir", str(controller.data_dir)],
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"}, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_the_rig_lock_names_its_holder_and_goes_with_it(tmp_path: Path) -> None:
    lock = ControllerLock.acquire(tmp_path, "rig-3", "tcp://127.0.0.1:5600")
    owner = running_controller(tmp_path, "rig-3")
    assert owner is not None and owner.pid == os.getpid()
    assert owner.endpoint == "tcp://127.0.0.1:5600"
    with pytest.raises(RigTaken, match=r"rig 'rig-3' already has a controller .*5600"):
        ControllerLock.acquire(tmp_path, "rig-3", "tcp://127.0.0.1:5700")
    assert running_controller(tmp_path, "rig-4") is None  # another rig: free
    lock.release()
    assert running_controller(tmp_path, "rig-3") is None
    ControllerLock.acquire(tmp_path, "rig-3", "tcp://127.0.0.1:5700").release()


def test_a_second_serve_for_the_rig_refuses(controller: RunningController, tmp_path: Path) -> None:
    ControllerClient(controller.endpoint).request("hello")  # the first is up
    second = subprocess.run(
        [sys.executable, "-m", "rig.cli", "serve", "--rig", str(controller.hardware),
         "--data-dir", str(controller.data_dir), "--endpoint", f"ipc://{tmp_path}/second"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert second.returncode == 1
    assert "rig 'sim' already has a controller" in second.stderr
    assert f"rig gui --attach {controller.endpoint}" in second.stderr
    assert not (tmp_path / "second").exists()  # it never listened


def test_rig_gui_attaches_to_the_running_session(controller: RunningController, root: Path) -> None:
    client = ControllerClient(controller.endpoint)
    client.request("create_subject", subject="A1")
    client.request("start", subject="A1", protocol="tactile_T1.yaml", trials=500,
                   operator="t", weight_g=20.0)  # fmt: skip
    gui = _plain_rig_gui(controller, root)
    try:
        assert gui.stdout is not None
        line = gui.stdout.readline()
        assert "has its controller running" in line and "attaching" in line
        assert gui.stdout.readline().strip() == f"rig gui: ready ({controller.endpoint})"
        gui.send_signal(signal.SIGTERM)
        assert gui.wait(30) == 0
        assert client.request("hello")["busy"] == "session"  # not its controller: it goes on
    finally:
        if gui.poll() is None:
            gui.kill()
        client.close()


def test_closing_the_window_with_no_session_takes_the_rigs_idle_controller(
    controller: RunningController, root: Path
) -> None:
    """Found by the rig's lock on this PC, the controller is the window's to close when no
    session runs (no idle controller left behind by a window that crashed earlier)."""
    gui = _plain_rig_gui(controller, root)
    try:
        assert gui.stdout is not None
        assert "attaching" in gui.stdout.readline()
        assert gui.stdout.readline().startswith("rig gui: ready")
        gui.send_signal(signal.SIGTERM)
        assert gui.wait(30) == 0
        assert controller.process.wait(30) == 0  # shut down, not killed
    finally:
        if gui.poll() is None:
            gui.kill()


def _other_rig(controller: RunningController, tmp_path: Path, endpoint: str) -> list[str]:
    """``rig serve`` for another rig (its own name and data folder) at ``endpoint``."""
    other = tmp_path / "other.yaml"
    other.write_text(controller.hardware.read_text().replace("name: sim", "name: rig-2", 1))
    return [sys.executable, "-m", "rig.cli", "serve", "--rig", str(other),
            "--data-dir", str(tmp_path / "other-data"), "--endpoint", endpoint]  # fmt: skip


def test_another_rig_cannot_take_over_a_controllers_ipc_endpoint(
    controller: RunningController, tmp_path: Path
) -> None:
    """ZeroMQ binds an ipc path that is in use without a word: the running controller
    would stop hearing its GUIs."""
    client = ControllerClient(controller.endpoint)
    client.request("hello")
    second = subprocess.run(_other_rig(controller, tmp_path, controller.endpoint),
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert second.returncode == 1
    assert f"another controller (rig 'sim') listens at {controller.endpoint}" in second.stderr
    assert client.request("hello")["rig"] == "sim"  # still the first one's


def test_another_rig_on_a_taken_tcp_port_says_so(
    controller: RunningController, tmp_path: Path
) -> None:
    import socket

    with socket.socket() as s:  # a port something else holds
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        second = subprocess.run(
            _other_rig(controller, tmp_path, f"tcp://127.0.0.1:{port}"),
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert second.returncode == 1
    assert f"cannot listen at tcp://127.0.0.1:{port}" in second.stderr
    assert "controller_endpoint of its own" in second.stderr
