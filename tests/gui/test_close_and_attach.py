"""Closing the window mid-session asks what to do, Cancel first (Enter keeps the window);
"leave" keeps the session running on the controller, and a second window attached to it
shows the session so far; "stop" there stops it, the window stays for the end form and
closes after it."""

from __future__ import annotations

import json

import pytest
from PyQt6 import QtCore, QtWidgets
from pytestqt.qtbot import QtBot

from gui.window import MainWindow
from rig.control.client import ControllerClient
from tests.gui.conftest import RunningController

pytestmark = [pytest.mark.realtime]
WAIT_MS = 60_000


def _press_enter_on_the_question(qtbot: QtBot, seen: list[str]) -> None:
    box = QtWidgets.QApplication.activeModalWidget()
    assert isinstance(box, QtWidgets.QMessageBox)
    default = box.defaultButton()
    seen.append(default.text() if default is not None else "")
    qtbot.keyClick(box, QtCore.Qt.Key.Key_Return)


def test_leave_then_attach_then_stop(qtbot: QtBot, controller: RunningController) -> None:
    client = ControllerClient(controller.endpoint)
    first = MainWindow(client)
    qtbot.addWidget(first)
    first.start()
    first.show()
    client.request("create_subject", subject="A1")
    client.request("start", subject="A1", protocol="tactile_T1.yaml", trials=500,
                   operator="t", weight_g=20.0)  # fmt: skip
    qtbot.waitUntil(lambda: first.live.trials >= 3, timeout=WAIT_MS)

    seen: list[str] = []  # the real question, answered with Enter: its default is Cancel
    QtCore.QTimer.singleShot(0, lambda: _press_enter_on_the_question(qtbot, seen))
    first.close()
    assert seen == ["Cancel"] and first.isVisible()

    asked: list[str] = []
    first.ask_on_close = lambda: asked.append("leave") or "leave"  # type: ignore[method-assign]
    first.close()
    assert asked == ["leave"] and not first.isVisible()
    assert client.request("hello")["busy"] == "session"  # it goes on without a window

    closed: list[str] = []
    second = MainWindow(ControllerClient(controller.endpoint), on_close=closed.append)
    second.ask_on_close = lambda: "stop"  # type: ignore[method-assign]
    qtbot.addWidget(second)
    second.start()
    second.show()
    assert second.stack.currentWidget() is second.live_page  # straight to the live view
    qtbot.waitUntil(lambda: second.live.trials >= 5, timeout=WAIT_MS)
    assert second.live.started is not None and second.live.started.subject == "A1"
    assert second.live.cols.trial.view.tolist()[:5] == [1, 2, 3, 4, 5]  # from the first trial
    second.close()
    assert second.isVisible() and second.closing  # it stays for the end form
    assert "end form follows" in second.controls.feedback.text()
    second.close()  # a second click while stopping: still there, no second stop
    qtbot.waitUntil(lambda: second.end_dialog is not None, timeout=WAIT_MS)
    assert second.isVisible() and closed == []
    ended = second.live.ended
    assert ended is not None and ended.status == "completed"  # a stop is not an abort
    assert ended.summary["ended_by"] == "operator"
    assert second.end_dialog is not None
    second.end_dialog.done(QtWidgets.QDialog.DialogCode.Accepted)  # the form is done
    qtbot.waitUntil(lambda: not second.isVisible(), timeout=5_000)
    assert closed == ["none"]  # no session left: a controller it started would go too
    (session,) = (p for p in (controller.data_dir / "A1").iterdir() if p.is_dir())
    ops = [json.loads(x)["action"] for x in (session / "operator.jsonl").read_text().splitlines()]
    assert ops == ["stop"]
