"""An interrupted session, resumed from the launcher: the subject's last session was
killed; the launcher offers to resume it, one click continues it in its folder."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PyQt6 import QtCore
from pytestqt.qtbot import QtBot

from gui.window import MainWindow
from rig.control.client import ControllerClient
from tests.gui.conftest import start_controller, stop_controller

pytestmark = [pytest.mark.realtime]


@contextlib.contextmanager
def _launcher_on(qtbot: QtBot, root: Path, tmp_path: Path, subject: str) -> Iterator[MainWindow]:
    """The main window on a real controller, its launcher on ``subject``; closed after."""
    running = start_controller(root, tmp_path, speed=20.0)
    client = ControllerClient(running.endpoint)
    window = MainWindow(client)
    window.ask_on_close = lambda: "stop"  # type: ignore[method-assign]
    qtbot.addWidget(window)
    try:
        window.start()
        window.launcher.subject.setCurrentText(subject)
        yield window
    finally:
        window.close()
        client.close()
        stop_controller(running)


def test_the_launcher_resumes_an_interrupted_session(
    qtbot: QtBot, root: Path, tmp_path: Path
) -> None:
    killed = subprocess.run(
        [sys.executable, "-m", "rig.cli", "run", "--protocol", "protocols/tactile_T1.yaml",
         "--subject", "R1", "--trials", "8", "--seed", "2", "--data-dir", str(tmp_path / "data"),
         "--fault", "kill-after-events=200"],
        cwd=root, capture_output=True, timeout=120,
    )  # fmt: skip
    assert killed.returncode == -9
    (folder,) = (tmp_path / "data" / "R1").iterdir()
    done_before = len((folder / "trials.jsonl").read_text().splitlines())
    with _launcher_on(qtbot, root, tmp_path, "R1") as window:
        launcher = window.launcher
        qtbot.waitUntil(lambda: launcher.resume.isVisibleTo(launcher), timeout=10_000)
        assert "Resume the interrupted session of" in launcher.resume.text()
        assert "(running)" in launcher.resume.text()
        qtbot.mouseClick(launcher.resume, QtCore.Qt.MouseButton.LeftButton)
        assert window.stack.currentWidget() is window.live_page
        qtbot.waitUntil(lambda: window.live.ended is not None, timeout=60_000)
    meta = json.loads((folder / "session.json").read_text())
    assert meta["status"] == "completed" and len(meta["resumes"]) == 1
    records = [json.loads(x) for x in (folder / "trials.jsonl").read_text().splitlines()]
    interrupted = meta["resumes"][0]["interrupted_trials"]
    assert [r["trial"] for r in records] == [t for t in range(1, 9) if t not in interrupted]
    assert len(records) > done_before


def test_the_launcher_does_not_offer_a_session_another_process_is_running(
    qtbot: QtBot, root: Path, tmp_path: Path
) -> None:
    """A session still written by another process (here ``rig run --realtime``) is shown as
    running elsewhere, with that process, and is not offered for resume until it is gone."""
    import signal
    import socket
    import time

    elsewhere = subprocess.Popen(
        [sys.executable, "-m", "rig.cli", "run", "--protocol", "protocols/tactile_T1.yaml",
         "--subject", "R2", "--trials", "50", "--seed", "2", "--data-dir", str(tmp_path / "data"),
         "--realtime"],
        cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not any((tmp_path / "data" / "R2").glob("2*/session.json")):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    try:
        with _launcher_on(qtbot, root, tmp_path, "R2") as window:
            launcher = window.launcher
            qtbot.waitUntil(lambda: "running elsewhere" in launcher.today.text(), timeout=10_000)
            text = launcher.today.text()
            assert f"pid {elsewhere.pid} on {socket.gethostname()}" in text
            assert not launcher.resume.isVisibleTo(launcher)
            elsewhere.send_signal(signal.SIGKILL)
            elsewhere.wait(30)
            launcher.refresh_suggestion()  # the process is gone: now it is an interrupted session
            qtbot.waitUntil(lambda: launcher.resume.isVisibleTo(launcher), timeout=10_000)
            assert "running elsewhere" not in launcher.today.text()
    finally:
        if elsewhere.poll() is None:
            elsewhere.kill()
            elsewhere.wait()
