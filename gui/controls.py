"""The operator's controls during a session; each button is one controller command.

Pause/resume, stop after this trial, abort, a drop left or right (the protocol's reward
volume at the calibrated open time), valve flush, switch context now (with a reason),
edit a parameter (applied from the next trial; logged), and notes. A refused command
shows the controller's reason; nothing is retried behind the operator's back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PyQt6 import QtWidgets

from rig.control.client import ControllerClient, ControllerError

EDITABLE_PATHS = (
    "reward.volume_ul",
    "epochs.delay_s",
    "epochs.sample_s",
    "epochs.response_window_s",
    "epochs.timeout_s",
    "early_lick.policy",
    "free_drop.enabled",
    "free_drop.after_unrewarded",
    "trial_selection.mode",
    "trial_selection.max_same",
)


def _parse(text: str) -> Any:
    """A typed value from the form: true/false, a number, or the text itself."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


class ControlPanel(QtWidgets.QGroupBox):
    def __init__(self, client: ControllerClient, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Controls", parent)
        self.client = client
        self.paused = False
        grid = QtWidgets.QGridLayout(self)
        self.buttons: dict[str, QtWidgets.QPushButton] = {}

        def button(key: str, text: str, row: int, col: int, slot: Callable[[], None]) -> None:
            b = QtWidgets.QPushButton(text)
            b.setObjectName(f"button_{key}")
            b.clicked.connect(slot)
            grid.addWidget(b, row, col)
            self.buttons[key] = b

        button("pause", "Pause", 0, 0, self.toggle_pause)
        button("stop", "Stop after this trial", 0, 1, lambda: self.send("stop"))
        button("abort", "Abort now", 0, 2, self.abort)
        button("drop_left", "Drop left", 1, 0, lambda: self.send("drop", side="left"))
        button("drop_right", "Drop right", 1, 1, lambda: self.send("drop", side="right"))
        button("flush", "Flush valves", 1, 2, self.flush)

        self.step = QtWidgets.QComboBox()
        self.step.setObjectName("switch_step")
        self.reason = QtWidgets.QLineEdit()
        self.reason.setObjectName("switch_reason")
        self.reason.setPlaceholderText("reason (required)")
        grid.addWidget(QtWidgets.QLabel("Switch to"), 2, 0)
        grid.addWidget(self.step, 2, 1)
        grid.addWidget(self.reason, 3, 0, 1, 2)
        button("switch", "Switch context now", 3, 2, self.switch)

        self.param = QtWidgets.QComboBox()
        self.param.setObjectName("param_path")
        self.param.setEditable(True)
        self.param.addItems(EDITABLE_PATHS)
        self.value = QtWidgets.QLineEdit()
        self.value.setObjectName("param_value")
        self.value.setPlaceholderText("new value")
        grid.addWidget(self.param, 4, 0)
        grid.addWidget(self.value, 4, 1)
        button("set", "Apply (next trial)", 4, 2, self.set_param)

        self.note = QtWidgets.QLineEdit()
        self.note.setObjectName("note_text")
        self.note.setPlaceholderText("note")
        grid.addWidget(self.note, 5, 0, 1, 2)
        button("note", "Add note", 5, 2, self.add_note)

        self.feedback = QtWidgets.QLabel("")
        self.feedback.setObjectName("controls_feedback")
        self.feedback.setWordWrap(True)
        grid.addWidget(self.feedback, 6, 0, 1, 3)

    def set_steps(self, labels: list[str], current: int) -> None:
        self.step.clear()
        for i, label in enumerate(labels):
            self.step.addItem(f"{i + 1}: {label}", i)
        self.step.setCurrentIndex(min(current + 1, len(labels) - 1))

    def send(self, action: str, **args: Any) -> bool:
        try:
            self.client.command(action, **args)
        except ControllerError as exc:
            self.feedback.setText(f"refused: {exc}")
            return False
        self.feedback.setText(f"sent: {action} {args if args else ''}".strip())
        return True

    def toggle_pause(self) -> None:
        if self.send("resume" if self.paused else "pause"):
            self.paused = not self.paused
            self.buttons["pause"].setText("Resume" if self.paused else "Pause")

    def abort(self) -> None:
        answer = QtWidgets.QMessageBox.question(
            self, "Abort", "End the running trial now and the session with it?"
        )
        if answer == QtWidgets.QMessageBox.StandardButton.Yes:
            self.send("abort")

    def flush(self) -> None:
        self.send("flush", side="both", seconds=2.0)

    def switch(self) -> None:
        reason = self.reason.text().strip()
        if not reason:
            self.feedback.setText("a switch needs a reason")
            return
        if self.send("switch", reason=reason, to_step=self.step.currentData()):
            self.reason.clear()

    def set_param(self) -> None:
        if self.send("set", path=self.param.currentText(), value=_parse(self.value.text())):
            self.value.clear()

    def add_note(self) -> None:
        text = self.note.text().strip()
        if text and self.send("note", text=text):
            self.note.clear()
