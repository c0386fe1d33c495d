"""Closing the window mid-session asks what to do; "leave" keeps the session running on
the controller, and a second window attached to it shows the session so far and can stop it."""

from __future__ import annotations

import json

import pytest
from pytestqt.qtbot import QtBot

from gui.window import MainWindow
from rig.control.client import ControllerClient
from tests.gui.conftest import RunningController

pytestmark = [pytest.mark.realtime]
WAIT_MS = 60_000


def test_leave_then_attach_then_stop(qtbot: QtBot, controller: RunningController) -> None:
    client = ControllerClient(controller.endpoint)
    first = MainWindow(client)
    asked: list[str] = []
    first.ask_on_close = lambda: asked.append("leave") or "leave"  # type: ignore[method-assign]
    qtbot.addWidget(first)
    first.start()
    client.request("create_subject", subject="A1")
    client.request("start", subject="A1", protocol="tactile_T1.yaml", trials=500,
                   operator="t", weight_g=20.0)  # fmt: skip
    qtbot.waitUntil(lambda: first.live.trials >= 3, timeout=WAIT_MS)
    first.close()
    assert asked == ["leave"]
    assert client.request("hello")["busy"] == "session"  # it goes on without a window

    second = MainWindow(ControllerClient(controller.endpoint))  # as `rig gui --attach`
    stopped: list[str] = []
    second.ask_on_close = lambda: stopped.append("stop") or "stop"  # type: ignore[method-assign]
    qtbot.addWidget(second)
    second.start()
    assert second.stack.currentWidget() is second.live_page  # straight to the live view
    qtbot.waitUntil(lambda: second.live.trials >= 5, timeout=WAIT_MS)
    assert second.live.started is not None and second.live.started.subject == "A1"
    assert second.live.cols.trial.view.tolist()[:5] == [1, 2, 3, 4, 5]  # from the first trial
    second.close()
    assert stopped == ["stop"]
    waiter = MainWindow(client)  # a window that only waits for the end
    qtbot.addWidget(waiter)
    qtbot.waitUntil(lambda: waiter.live.ended is not None, timeout=WAIT_MS)
    assert waiter.live.ended is not None and waiter.live.ended.status == "aborted"
    (session,) = (p for p in (controller.data_dir / "A1").iterdir() if p.is_dir())
    ops = [json.loads(x)["action"] for x in (session / "operator.jsonl").read_text().splitlines()]
    assert ops == ["stop"]
    waiter.close()
