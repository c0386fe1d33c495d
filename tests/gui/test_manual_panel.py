"""The manual panel against a real controller process on the simulated rig.

Before: outside a session every valve button answered "no session is running" (lines
could not be primed), there were no tone or pole buttons, and a flush mid-session was not
counted as water."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PyQt6 import QtCore
from pytestqt.qtbot import QtBot

from gui.manual import ManualDialog
from rig.control.client import ControllerClient
from rig.schema import HardwareConfig, load_model
from tests.gui.conftest import RunningController

pytestmark = [pytest.mark.realtime]
WAIT_MS = 60_000
LEFT = QtCore.Qt.MouseButton.LeftButton


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def test_priming_and_checks_with_no_session(qtbot: QtBot, controller: RunningController) -> None:
    client = ControllerClient(controller.endpoint)
    dialog = ManualDialog(client)
    qtbot.addWidget(dialog)
    dialog.show()
    hardware = load_model(controller.hardware, HardwareConfig)
    assert "no session is running" in dialog.state.text()
    assert dialog.open_ms["left"].maximum() == 200  # the valve's max_open_s
    assert not dialog.buttons["stop"].isEnabled()  # nothing runs
    dialog.flush_s["both"].setValue(2.0)
    qtbot.mouseClick(dialog.buttons["flush_both"], LEFT)
    flushed = hardware.delivered_ul("left", 2.0) + hardware.delivered_ul("right", 2.0)
    qtbot.waitUntil(lambda: f"{flushed:.1f} uL flushed" in dialog.water.text(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: dialog.buttons["drop_left"].isEnabled(), timeout=WAIT_MS)
    qtbot.mouseClick(dialog.buttons["drop_left"], LEFT)
    qtbot.waitUntil(lambda: not dialog.status["running"], timeout=WAIT_MS)
    qtbot.mouseClick(dialog.buttons["tone_high"], LEFT)
    qtbot.waitUntil(lambda: not dialog.status["running"], timeout=WAIT_MS)
    # the pole stays in until Pole out; meanwhile the other buttons wait
    qtbot.mouseClick(dialog.buttons["pole_posterior"], LEFT)
    assert "Running: pole (position posterior)" in dialog.state.text()
    assert dialog.buttons["pole_out"].isEnabled() and not dialog.buttons["drop_left"].isEnabled()
    qtbot.mouseClick(dialog.buttons["pole_out"], LEFT)
    qtbot.waitUntil(lambda: "the rig is free" in dialog.state.text().lower(), timeout=WAIT_MS)
    given = dialog.status["given_ul"]
    assert given == pytest.approx(flushed + 2.5, abs=0.05)
    assert f"{given:.1f} uL" in dialog.water.text()
    log = lines(controller.data_dir / ".rig/sim/operator.jsonl")
    done = [(x["action"], x["outcome"]) for x in log if x["outcome"] != "started"]
    assert done == [("flush", "done"), ("drop", "done"), ("tone", "done"), ("stop", "done"),
                    ("pole", "stopped")]  # fmt: skip
    assert client.request("subjects")["subjects"] == []
    client.close()


def test_during_a_session_drop_and_flush_are_the_session_s(
    qtbot: QtBot, controller: RunningController
) -> None:
    client = ControllerClient(controller.endpoint)
    client.request("create_subject", subject="M7")
    client.request("start", subject="M7", protocol="tactile_T1.yaml", trials=400, weight_g=20)
    dialog = ManualDialog(client)
    qtbot.addWidget(dialog)
    dialog.show()  # it follows the rig while shown
    assert dialog.session_running()
    assert "A session is running: Drop and Flush go to the session" in dialog.state.text()
    for key in ("open_left", "tone_go_cue", "pole_anterior", "stop"):
        assert not dialog.buttons[key].isEnabled(), key
    for key in ("drop_left", "flush_right", "flush_both"):
        assert dialog.buttons[key].isEnabled(), key
    asked: list[str] = []
    dialog.ask = lambda title, text: asked.append(text) or False  # type: ignore[method-assign]
    qtbot.mouseClick(dialog.buttons["flush_both"], LEFT)
    assert asked and "A session is running" in asked[0] and dialog.feedback.text() == "Not flushed."
    dialog.ask = lambda title, text: True  # type: ignore[method-assign]
    qtbot.mouseClick(dialog.buttons["flush_both"], LEFT)
    assert "sent to the session (counted in its water)" in dialog.feedback.text()
    qtbot.mouseClick(dialog.buttons["drop_left"], LEFT)
    subject = controller.data_dir / "M7"
    qtbot.waitUntil(lambda: any(subject.glob("*/events.jsonl")), timeout=WAIT_MS)
    (folder,) = subject.iterdir()

    def given_by_hand() -> bool:  # the flush and the drop ran on the device
        events = (folder / "events.jsonl").read_text().splitlines()[:-1]  # whole lines
        hand = [e for e in map(json.loads, events) if e["trial"] == 0 and e["kind"] == "output"]
        return len(hand) == 6  # two valves open and closed, one valve open and closed

    qtbot.waitUntil(given_by_hand, timeout=WAIT_MS)
    client.command("stop")
    qtbot.waitUntil(lambda: not dialog.session_running(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: dialog.buttons["open_left"].isEnabled(), timeout=WAIT_MS)
    summary = json.loads((folder / "session.json").read_text())["summary"]
    hardware = load_model(controller.hardware, HardwareConfig)
    flushed = hardware.delivered_ul("left", 2.0) + hardware.delivered_ul("right", 2.0)
    assert summary["hand_water_ul"] == pytest.approx(flushed + 2.5, abs=0.05)
    actions = [x["action"] for x in lines(folder / "operator.jsonl")]
    assert actions[:2] == ["flush", "drop"]
    assert dialog.status["given_ul"] == 0  # the session's water is the session's
    assert not (controller.data_dir / ".rig/sim/operator.jsonl").exists() or all(
        x["outcome"] == "refused" for x in lines(controller.data_dir / ".rig/sim/operator.jsonl")
    )
    client.close()


def test_the_rig_menu_opens_the_manual_panel(qtbot: QtBot, controller: RunningController) -> None:
    from gui.window import MainWindow

    window = MainWindow(ControllerClient(controller.endpoint))
    qtbot.addWidget(window)
    window.start()
    menu = window.menuBar().actions()[0].menu()
    assert menu is not None
    (entry,) = (a for a in menu.actions() if a.text() == "Valves, tones and pole by hand...")
    entry.trigger()
    assert window.manual_dialog is not None and window.manual_dialog.isVisible()
    entry.trigger()  # once more: the same panel, not a second one
    assert len(window.findChildren(ManualDialog)) == 1
    assert window.manual_dialog.timer.isActive()
    window.close()  # the panel goes with the window, and stops asking the controller
    assert not window.manual_dialog.isVisible() and not window.manual_dialog.timer.isActive()


def test_a_controller_that_is_gone_does_not_freeze_the_panel(
    qtbot: QtBot, controller: RunningController
) -> None:
    import time

    from gui.manual import POLL_WAIT_S, RETRY_MS
    from tests.gui.conftest import stop_controller

    dialog = ManualDialog(ControllerClient(controller.endpoint, timeout_s=10))
    qtbot.addWidget(dialog)
    dialog.show()
    stop_controller(controller)
    began = time.monotonic()
    dialog.refresh()  # unanswered
    assert time.monotonic() - began < POLL_WAIT_S + 2  # not the client's 10 s
    assert "The controller does not answer" in dialog.state.text()
    assert not any(b.isEnabled() for b in dialog.buttons.values())
    assert dialog.timer.interval() == RETRY_MS  # then asked now and then, not 3 times a second


def test_the_menu_says_why_when_the_controller_is_gone(
    qtbot: QtBot, controller: RunningController
) -> None:
    from gui.window import MainWindow
    from tests.gui.conftest import stop_controller

    window = MainWindow(ControllerClient(controller.endpoint, timeout_s=2))
    qtbot.addWidget(window)
    window.start()
    stop_controller(controller)
    assert window.manual_panel() is None and window.calibrate() is None  # no exception
    assert "cannot open" in window.statusBar().currentMessage()
    assert "did not answer" in window.statusBar().currentMessage()
