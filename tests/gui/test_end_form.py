"""The end form: the weight after is required (or the reason there is none), typed as it
is (never cut); the supplement to give is the day's target minus the day's water; each
percent correct says its window."""

from __future__ import annotations

from typing import Any

from PyQt6 import QtCore, QtWidgets
from pytestqt.qtbot import QtBot

from gui.session_end import SessionEndDialog
from rig.bus import SessionEnded

SUMMARY = {
    "trials": 312, "outcomes": {"hit": 180, "error": 100, "no_response": 32},
    "percent_correct": 71.0, "percent_correct_by_context": {"T1": 80.0, "T2": 60.0},
    "water_ul": 300.0, "hand_water_ul": 10.0, "end_label": "T2", "window": 100,
    "ended_by": "operator",
}  # fmt: skip
INFO = {"water_target_ul": 1000.0, "earlier_water_today_ul": 600.0}


class Recorder:
    """A controller that keeps the annotate requests."""

    def __init__(self) -> None:
        self.annotations: list[dict[str, Any]] = []

    def request(self, cmd: str, **args: Any) -> dict[str, Any]:
        assert cmd == "annotate"
        self.annotations.append(args)
        return {}


def _dialog(qtbot: QtBot, info: dict[str, Any] | None = INFO) -> tuple[SessionEndDialog, Recorder]:
    client = Recorder()
    ended = SessionEnded("completed", SUMMARY)
    dialog = SessionEndDialog(client, ended, "/data/M1/20260302-090000", info=info)  # type: ignore[arg-type]
    qtbot.addWidget(dialog)
    return dialog, client


def _save(qtbot: QtBot, dialog: SessionEndDialog) -> None:
    save = dialog.findChild(QtWidgets.QPushButton, "end_save")
    assert save is not None
    qtbot.mouseClick(save, QtCore.Qt.MouseButton.LeftButton)


def test_the_weight_after_is_required_or_the_reason_there_is_none(qtbot: QtBot) -> None:
    dialog, client = _dialog(qtbot)
    _save(qtbot, dialog)
    assert client.annotations == [] and dialog.result() == 0
    assert dialog.problem.text() == "weight after: enter it, or say why there is none"
    qtbot.keyClicks(dialog.weight, "219")  # 21.9 with a lost point: refused, not 21.0
    _save(qtbot, dialog)
    assert client.annotations == [] and "outside 10-60 g" in dialog.problem.text()
    dialog.weight.clear()
    qtbot.keyClicks(dialog.no_weight, "the scale was being calibrated")
    dialog.notes.setPlainText("drank well")
    _save(qtbot, dialog)
    (fields,) = client.annotations
    assert "weight_g" not in fields and dialog.result() == 1
    assert fields["notes"] == "drank well\nno weight after: the scale was being calibrated"


def test_a_weight_after_is_saved_as_typed(qtbot: QtBot) -> None:
    dialog, client = _dialog(qtbot)
    qtbot.keyClicks(dialog.weight, "21.9")
    _save(qtbot, dialog)
    assert client.annotations == [
        {"weight_g": 21.9, "notes": "", "session_dir": "/data/M1/20260302-090000"}
    ]


def test_the_supplement_is_the_days_target_minus_the_days_water(qtbot: QtBot) -> None:
    dialog, _ = _dialog(qtbot)
    assert dialog.supplement_ul == 90.0  # 1000 - 600 earlier today - (300 + 10) now
    assert dialog.water.text() == (
        "Supplement to give: 90 uL (today's target 1000 uL - 600 uL in earlier sessions "
        "today - 310 uL in this one)"
    )
    dialog, _ = _dialog(qtbot, {**INFO, "earlier_water_today_ul": 900.0})
    assert dialog.supplement_ul == 0.0  # over the target: nothing to give
    dialog, _ = _dialog(qtbot, None)
    assert dialog.supplement_ul is None and "target is not known" in dialog.water.text()


def test_each_percentage_says_its_window(qtbot: QtBot) -> None:
    dialog, _ = _dialog(qtbot)
    text = dialog.summary.text()
    assert "status completed (stopped by the operator); 312 trials" in text
    assert "correct: 71 % over the last 100 responded trials" in text
    assert "64 % over the whole session (280 responded)" in text
    assert "correct by context, each over its last 100 responded trials in this session" in text
    assert "T1 80 %, T2 60 %" in text
