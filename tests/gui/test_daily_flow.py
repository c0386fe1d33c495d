"""The technician's day, offscreen, against a real controller process on the simulated rig.

Create a subject, start a session from the launcher, watch real trials reach the plots,
give a drop by hand, switch context, stop, enter the weight; then read the session's files
for each of those actions, and come back to an empty launcher that shows the day's session.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PyQt6 import QtCore
from pytestqt.qtbot import QtBot

from gui.window import MainWindow
from rig.control.client import ControllerClient
from tests.gui.conftest import RunningController

pytestmark = [pytest.mark.realtime]
WAIT_MS = 60_000  # generous: the rig runs 20x real time, the machine may be slow


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def test_the_daily_flow_is_recorded(qtbot: QtBot, controller: RunningController) -> None:
    client = ControllerClient(controller.endpoint)
    window = MainWindow(client)
    window.ask_on_close = lambda: "stop"  # type: ignore[method-assign]  (no modal dialog here)
    qtbot.addWidget(window)
    window.start()
    window.show()
    launcher = window.launcher

    # create a subject; the launcher suggests the curriculum's first step for it
    launcher.new_subject.setText("M042")
    qtbot.mouseClick(launcher.findChild(type(launcher.start), "launcher_create"),
                     QtCore.Qt.MouseButton.LeftButton)  # fmt: skip
    assert launcher.subject.currentText() == "M042"
    assert "Suggested: continual_learning.yaml, step 1 of 5: T1" in launcher.today.text()
    assert not launcher.start.isEnabled()  # operator and weight are missing
    launcher.operator.setText("tech")
    launcher.weight.setValue(21.4)
    launcher.fov.setText("FOV2")
    assert launcher.start.isEnabled()
    qtbot.mouseClick(launcher.start, QtCore.Qt.MouseButton.LeftButton)
    assert window.stack.currentWidget() is window.live_page

    # real trials reach the plots
    qtbot.waitUntil(lambda: window.live.trials >= 3, timeout=WAIT_MS)
    window.bridge.pump()  # what the next frame would draw
    marks = [item.getData()[0] for item in window.view.outcome_items.values()]
    assert sum(0 if x is None else len(x) for x in marks) == window.live.trials  # 1 mark each
    assert window.view.fields["subject"].text() == "M042"

    # a drop by hand, a context switch with a reason
    qtbot.mouseClick(window.controls.buttons["drop_left"], QtCore.Qt.MouseButton.LeftButton)
    window.controls.reason.setText("mouse is ready early")
    qtbot.mouseClick(window.controls.buttons["switch"], QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.live.label == "T2", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.live.hand_water_ul > 0, timeout=WAIT_MS)
    after_switch = window.live.trials

    # stop at the end of the trial; the end dialog takes the weight
    qtbot.waitUntil(lambda: window.live.trials >= after_switch + 2, timeout=WAIT_MS)
    qtbot.mouseClick(window.controls.buttons["stop"], QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.end_dialog is not None, timeout=WAIT_MS)
    dialog = window.end_dialog
    assert dialog is not None
    assert "trials" in dialog.summary.text()
    dialog.weight.setValue(21.9)
    dialog.notes.setPlainText("drank well")
    qtbot.mouseClick(dialog.findChild(type(launcher.start), "end_save"),
                     QtCore.Qt.MouseButton.LeftButton)  # fmt: skip
    assert dialog.result() == 1, dialog.problem.text()

    # the session's files hold each action
    (session,) = (p for p in (controller.data_dir / "M042").iterdir() if p.is_dir())
    meta = json.loads((session / "session.json").read_text())
    assert meta["status"] == "completed"  # stopped by the operator: a normal end
    assert meta["summary"]["ended_by"] == "operator"
    assert meta["operator"] == "tech" and meta["weight_g"] == 21.4 and meta["fov"] == "FOV2"
    assert meta["end_annotations"] == {"weight_g": 21.9, "notes": "drank well"}
    (switch,) = meta["context_switches"]
    assert (switch["from"], switch["to"], switch["reason"]) == ("T1", "T2", "mouse is ready early")
    actions = [a["action"] for a in lines(session / "operator.jsonl")]
    assert actions == ["drop", "switch", "stop"]
    drop = lines(session / "operator.jsonl")[0]
    assert drop["args"] == {"side": "left"} and drop["volume_ul"] == 2.5
    manual = [e for e in lines(session / "events.jsonl") if e["trial"] == 0]
    assert [e["name"] for e in manual if e["kind"] == "output"] == ["valve_left", "valve_left"]
    trials = lines(session / "trials.jsonl")
    assert len(trials) == window.live.trials
    assert {t["context_label"] for t in trials} == {"T1", "T2"}

    # the next session's form is empty; the same mouse again shows today's first session
    qtbot.mouseClick(window.new_session, QtCore.Qt.MouseButton.LeftButton)
    assert launcher.subject.currentText() == ""
    assert (launcher.operator.text(), launcher.weight.text(), launcher.fov.text()) == ("", "", "")
    launcher.subject.setCurrentText("M042")
    assert f"Today already (1): {session.name[9:11]}:{session.name[11:13]} " in (
        launcher.today.text()
    )
    assert "end weight 21.9 g" in launcher.today.text()
    window.close()
