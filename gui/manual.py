"""Valves, tones and pole by hand: the rig's manual panel, with or without a session.

With no session (priming lines, checking the rig, as Bpod's manual override works any
time), each button is one action on the rig's device through the controller's ``manual``
request (:mod:`rig.control.manual`): a valve open for N ms, a drop of the reward volume, a
flush of up to 10 s; the go cue and the sample tones; the pole in (at either position)
until "Pole out". Openings are bounded a minute per valve, and every action and refusal is
written to the rig's ``operator.jsonl``; the water given by hand so far is shown.

While a session runs, Drop and Flush are the session's own commands (counted in the
session's hand water and its ``operator.jsonl``; a flush asks first); the other buttons
wait for the session's end, and say so. While a calibration runs, everything waits.
"""

from __future__ import annotations

from typing import Any

from PyQt6 import QtCore, QtGui, QtWidgets

from gui.controls import FLUSH_S
from gui.widgets import ask_yes_no
from rig.control.client import ControllerClient, ControllerError
from rig.control.manual import MAX_TONE_S
from rig.session.operator import MAX_FLUSH_S

SIDES = ("left", "right")
SESSION_KEYS = ("drop_left", "drop_right", "flush_left", "flush_right", "flush_both")
TONES = (("go_cue", "Go cue"), ("high", "High tone"), ("low", "Low tone"))


POLL_MS = 300  # how often the panel asks how far the action is, while shown
POLL_WAIT_S = 0.5  # how long it waits for the answer
RETRY_MS = 5000  # how often once the controller stopped answering


class ManualDialog(QtWidgets.QDialog):
    def __init__(self, client: ControllerClient, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Valves, tones and pole by hand")
        self.client = client
        hello = client.request("hello")
        self.reward_ul = float(hello["reward_ul"])
        self.status: dict[str, Any] = {}
        self.buttons: dict[str, QtWidgets.QPushButton] = {}
        self.open_ms: dict[str, QtWidgets.QSpinBox] = {}
        self.flush_s: dict[str, QtWidgets.QDoubleSpinBox] = {}
        outer = QtWidgets.QVBoxLayout(self)
        valves = QtWidgets.QHBoxLayout()
        outer.addLayout(valves)
        for side in SIDES:
            max_ms = round(1000 * float(hello["valves"][f"valve_{side}"]["max_open_s"]))
            valves.addWidget(self._valve_box(side, max_ms))
        both = QtWidgets.QHBoxLayout()
        self.flush_s["both"] = self._seconds("manual_flush_s_both", MAX_FLUSH_S, FLUSH_S)
        both.addWidget(QtWidgets.QLabel("Both valves:"))
        both.addWidget(self.flush_s["both"])
        both.addWidget(self._button("flush_both", "Flush both", lambda: self.flush("both")))
        both.addStretch(1)
        outer.addLayout(both)

        tones = QtWidgets.QGroupBox("Tones")
        row = QtWidgets.QHBoxLayout(tones)
        self.tone_s = self._seconds("manual_tone_s", MAX_TONE_S, 0.5)
        row.addWidget(self.tone_s)
        for key, text in TONES:
            row.addWidget(self._button(f"tone_{key}", text, lambda _=False, k=key: self.tone(k)))
        outer.addWidget(tones)
        pole = QtWidgets.QGroupBox("Pole")
        row = QtWidgets.QHBoxLayout(pole)
        for position in ("anterior", "posterior"):
            row.addWidget(
                self._button(
                    f"pole_{position}",
                    f"Pole in ({position})",
                    lambda _=False, p=position: self.act("pole", position=p),
                )
            )
        row.addWidget(self._button("pole_out", "Pole out", self.stop))
        outer.addWidget(pole)
        outer.addWidget(self._button("stop", "Stop (valves closed, tone off, pole out)", self.stop))

        self.state = self._label("manual_state")
        self.water = self._label("manual_water")
        self.feedback = self._label("manual_feedback")
        for label in (self.state, self.water, self.feedback):
            outer.addWidget(label)
        self.timer = QtCore.QTimer(self)  # runs while shown (showEvent, hideEvent)
        self.timer.timeout.connect(self.refresh)
        self.refresh()

    # -- building ----------------------------------------------------------------------------
    def _button(self, key: str, text: str, slot: Any) -> QtWidgets.QPushButton:
        button = QtWidgets.QPushButton(text)
        button.setObjectName(f"manual_{key}")
        button.clicked.connect(slot)
        self.buttons[key] = button
        return button

    def _label(self, name: str) -> QtWidgets.QLabel:
        label = QtWidgets.QLabel("")
        label.setObjectName(name)
        label.setWordWrap(True)
        return label

    @staticmethod
    def _seconds(name: str, most: float, value: float) -> QtWidgets.QDoubleSpinBox:
        box = QtWidgets.QDoubleSpinBox()
        box.setObjectName(name)
        box.setRange(0.1, most)
        box.setSingleStep(0.5)
        box.setValue(value)
        box.setSuffix(" s")
        return box

    def _valve_box(self, side: str, max_ms: int) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox(f"Valve {side}")
        form = QtWidgets.QFormLayout(box)
        ms = QtWidgets.QSpinBox()
        ms.setObjectName(f"manual_open_ms_{side}")
        ms.setRange(1, max_ms)  # the valve's max_open_s
        ms.setValue(min(50, max_ms))
        ms.setSuffix(" ms")
        self.open_ms[side] = ms
        row = QtWidgets.QHBoxLayout()
        row.addWidget(ms)
        row.addWidget(
            self._button(
                f"open_{side}",
                "Open",
                lambda: self.act("open", side=side, ms=self.open_ms[side].value()),
            )
        )
        form.addRow("Open for", row)
        form.addRow(
            self._button(f"drop_{side}", f"Drop ({self.reward_ul:g} uL)", lambda: self.drop(side))
        )
        self.flush_s[side] = self._seconds(f"manual_flush_s_{side}", MAX_FLUSH_S, FLUSH_S)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.flush_s[side])
        row.addWidget(self._button(f"flush_{side}", "Flush", lambda: self.flush(side)))
        form.addRow("Flush for", row)
        return box

    # -- actions -----------------------------------------------------------------------------
    def session_running(self) -> bool:
        return self.status.get("busy") == "session"

    def ask(self, title: str, text: str) -> bool:
        """Yes or no (a modal dialog; tests replace this method)."""
        return ask_yes_no(self, title, text)

    def act(self, action: str, **args: Any) -> None:
        """One action of the manual panel (no session), or its refusal, said."""
        try:
            reply = self.client.request("manual", action=action, args=args)
        except ControllerError as exc:
            self.feedback.setText(f"Not done: {str(exc).removeprefix('manual: ')}")
        else:
            what = ", ".join(f"{k} {v}" for k, v in args.items())
            self.feedback.setText(f"{action} ({what}): started" if what else f"{action}: sent")
            if reply.get("stopping"):
                self.feedback.setText(f"{reply['stopping']}: stopped")
        self.refresh()

    def _session(self, action: str, **args: Any) -> None:
        try:
            self.client.command(action, **args)
        except ControllerError as exc:
            self.feedback.setText(f"Not done: {exc}")
            return
        what = ", ".join(f"{k} {v}" for k, v in args.items())
        self.feedback.setText(f"{action} ({what}) sent to the session (counted in its water)")

    def drop(self, side: str) -> None:
        if self.session_running():
            self._session("drop", side=side)
        else:
            self.act("drop", side=side)

    def flush(self, side: str) -> None:
        seconds = round(self.flush_s[side].value(), 2)
        if not self.session_running():
            self.act("flush", side=side, seconds=seconds)
            return
        valves = "both valves" if side == "both" else f"the {side} valve"
        if self.ask(
            "Flush during the session?",
            f"A session is running: open {valves} for {seconds:g} s now, between two "
            "trials? The water is counted in the session.",
        ):
            self._session("flush", side=side, seconds=seconds)
        else:
            self.feedback.setText("Not flushed.")

    def tone(self, tone: str) -> None:
        self.act("tone", tone=tone, seconds=round(self.tone_s.value(), 2))

    def stop(self) -> None:
        self.act("stop")

    # -- the state ------------------------------------------------------------------------------
    def refresh(self) -> None:
        try:  # a short wait: a controller that is gone must not freeze the window
            self.status = self.client.request("manual", action="status", timeout_s=POLL_WAIT_S)
        except ControllerError as exc:
            self.state.setText(f"The controller does not answer: {exc}")
            for button in self.buttons.values():
                button.setEnabled(False)
            self.timer.setInterval(RETRY_MS)  # asked again now and then, not 3 times a second
            return
        self.timer.setInterval(POLL_MS)
        busy, running = str(self.status.get("busy", "")), str(self.status.get("running", ""))
        for key, button in self.buttons.items():
            if key in ("stop", "pole_out"):
                button.setEnabled(bool(running))
            elif busy == "session":
                button.setEnabled(key in SESSION_KEYS)
            else:
                button.setEnabled(not busy)
        if busy == "session":
            self.state.setText(
                "A session is running: Drop and Flush go to the session (counted in its "
                "water); the timed openings, tones and pole wait for its end."
            )
        elif running:
            self.state.setText(f"Running: {busy.removeprefix('manual: ')}. Stop ends it.")
        elif busy:
            self.state.setText(f"The rig is busy ({busy}): the buttons wait for its end.")
        else:
            self.state.setText("The rig is free: no session is running.")
        self.water.setText(
            f"Given by hand outside sessions since the controller started: "
            f"{self.status.get('given_ul', 0):.1f} uL "
            f"(of which {self.status.get('flushed_ul', 0):.1f} uL flushed)"
        )

    def showEvent(self, event: QtGui.QShowEvent | None) -> None:
        self.timer.start(POLL_MS)
        super().showEvent(event)

    def hideEvent(self, event: QtGui.QHideEvent | None) -> None:
        self.timer.stop()
        super().hideEvent(event)
