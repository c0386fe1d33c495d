"""The operator's controls during a session; each button is one controller command.

Pause/resume, stop after this trial, abort, a drop left or right (the protocol's reward
volume at the calibrated open time), valve flush (asked first: how long, which valves, and
that its water is counted), switch context now (with a reason; only to a step the mouse is
not in), edit a parameter (applied from the next trial planned; logged), and notes.

The feedback line says in a sentence what happened (:mod:`gui.feedback`): what was asked,
then, when the runner's event arrives (:meth:`ControlPanel.on_event`), what it did and from
which trial ("switching to T2 from trial 16"), and how the session ended. A refused command
shows the controller's reason; nothing is retried behind the operator's back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PyQt6 import QtWidgets

from gui import feedback
from gui.widgets import ask_yes_no
from rig.bus import (
    ContextSwitched,
    OperatorActed,
    RunnerStatus,
    SessionEnded,
    SessionStarted,
)
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
FLUSH_S = 2.0
STATUS_OF = {"stop": "stopping", "pause": "pausing", "abort": "aborting"}  # an action's status


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
        self.steps: list[str] = []  # the curriculum's step labels (from SessionStarted)
        self.planned: int | None = None  # the session's planned trials
        self._acted = ""  # the last command the runner applied
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
        button("flush", "Flush valves...", 1, 2, self.flush)

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
        """The steps one can switch to: every step but ``current`` (the mouse is in it);
        the next one selected."""
        self.steps = list(labels)
        self.step.clear()
        for i, label in enumerate(labels):
            if i != current:
                self.step.addItem(f"{i + 1}: {label}", i)
        following = self.step.findData(current + 1)
        self.step.setCurrentIndex(following if following >= 0 else self.step.count() - 1)
        self.buttons["switch"].setEnabled(self.step.count() > 0)

    def say(self, text: str) -> None:
        self.feedback.setText(text)

    def send(self, action: str, **args: Any) -> bool:
        try:
            self.client.command(action, **args)
        except ControllerError as exc:
            self.say(f"Refused: {exc}")
            return False
        self.say(feedback.asked(action, args, self.steps))
        return True

    def ask(self, title: str, text: str) -> bool:
        """Yes or no from the operator, No the default (a modal dialog; tests replace this
        method)."""
        return ask_yes_no(self, title, text)

    def on_event(self, event: object) -> None:
        """What the controller published, for the controls: the steps, the pause button and
        the feedback sentence (the window calls this for every message)."""
        if isinstance(event, SessionStarted):
            self.planned = event.info.get("trials")
            self.set_steps(list(event.info.get("steps", [])), int(event.info.get("step", 0)))
            self.set_paused(False)
            self.say(f"session started: {event.subject}, {event.label}")
        elif isinstance(event, ContextSwitched) and not event.completed:
            self.set_steps(self.steps, event.to_step)
        elif isinstance(event, OperatorActed):
            self.say(feedback.acted(event, self.steps))
            self._acted = "" if "refused" in event.detail else event.action
        elif isinstance(event, RunnerStatus):
            self.set_paused(event.status in ("pausing", "paused"))
            sentence = feedback.status(event)
            # "stopping" after the operator's Stop: the Stop's own sentence says more
            if sentence is not None and STATUS_OF.get(self._acted) != event.status:
                self.say(sentence)
        elif isinstance(event, SessionEnded):
            self.say(feedback.ended(event, self.planned))

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        self.buttons["pause"].setText("Resume" if paused else "Pause")

    def toggle_pause(self) -> None:
        if self.send("resume" if self.paused else "pause"):
            self.set_paused(not self.paused)

    def abort(self) -> None:
        if self.ask("Abort", "End the running trial now and the session with it?"):
            self.send("abort")

    def flush(self) -> None:
        text = (
            f"Open both valves (left and right) for {FLUSH_S:g} s, between two trials?\n\n"
            "The water it gives is counted in the session's water (given by hand)."
        )
        if self.ask("Flush the valves", text):
            self.send("flush", side="both", seconds=FLUSH_S)
        else:
            self.say("flush not given")

    def switch(self) -> None:
        reason = self.reason.text().strip()
        if not reason:
            self.say("a switch needs a reason: type it in the box first")
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
