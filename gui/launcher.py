"""The launcher: who is on the rig today, and what they do.

Pick or create the subject (none is preselected); the controller suggests the protocol and
curriculum step from the subject's own sessions (either can be overridden, with a reason);
the day card says why (the step's rule and progress, how the subject got there, its last
session's end weight and water, today's sessions) and stays while overriding; the
parameters that differ from the subject's last session are listed before the start;
operator and weight are required, and empty for each new session. Before starting, the
operator is asked (:meth:`Launcher.ask`) about a weight far below the last weighing or the
baseline, and about a second session of the subject on the same day.
"""

from __future__ import annotations

from typing import Any

from PyQt6 import QtCore, QtWidgets

from gui.day_card import card_text, earlier_sessions, weights_text
from gui.widgets import WeightEntry, ask_yes_no
from rig.control.client import ControllerClient, ControllerError
from rig.session.day import Weighing, weight_questions
from rig.session.today import DEFAULT_PROTOCOL


def _weighing(data: dict[str, Any] | None) -> Weighing | None:
    return None if data is None else Weighing(**data)


class Launcher(QtWidgets.QWidget):
    started = QtCore.pyqtSignal(dict)  # the start request, once the controller accepted it

    def __init__(self, client: ControllerClient, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.suggestion: dict[str, Any] | None = None  # for the protocol in the box
        self.suggested: dict[str, Any] | None = None  # the subject's own: the day card's
        self.suggested_protocol = ""
        centred = QtWidgets.QHBoxLayout(self)
        form_widget = QtWidgets.QWidget()
        form_widget.setMaximumWidth(900)
        centred.addWidget(form_widget)
        outer = QtWidgets.QVBoxLayout(form_widget)
        self.rig_label = QtWidgets.QLabel()
        self.rig_label.setObjectName("launcher_rig")
        self.warnings = QtWidgets.QLabel()
        self.warnings.setObjectName("launcher_warnings")
        self.warnings.setWordWrap(True)
        self.warnings.setStyleSheet("color: #b00020;")
        outer.addWidget(self.rig_label)
        outer.addWidget(self.warnings)

        form = QtWidgets.QFormLayout()
        outer.addLayout(form)
        self.subject = QtWidgets.QComboBox()
        self.subject.setObjectName("launcher_subject")
        self.subject.setPlaceholderText("pick the subject on the rig")
        self.new_subject = QtWidgets.QLineEdit()
        self.new_subject.setObjectName("launcher_new_subject")
        self.new_subject.setPlaceholderText("new subject ID")
        create = QtWidgets.QPushButton("Create")
        create.setObjectName("launcher_create")
        create.clicked.connect(self.create_subject)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.subject, 2)
        row.addWidget(self.new_subject, 2)
        row.addWidget(create)
        form.addRow("Subject", row)

        self.protocol = QtWidgets.QComboBox()
        self.protocol.setObjectName("launcher_protocol")
        form.addRow("Protocol", self.protocol)
        self.today = QtWidgets.QLabel("-")
        self.today.setObjectName("launcher_today")
        self.today.setWordWrap(True)
        form.addRow("Today", self.today)
        self.step = QtWidgets.QComboBox()
        self.step.setObjectName("launcher_step")
        form.addRow("Start at", self.step)
        self.reason = QtWidgets.QLineEdit()
        self.reason.setObjectName("launcher_reason")
        self.reason.setPlaceholderText("why not the suggestion (required when overriding)")
        form.addRow("Override reason", self.reason)
        self.operator = QtWidgets.QLineEdit()
        self.operator.setObjectName("launcher_operator")
        form.addRow("Operator", self.operator)
        self.weight = WeightEntry("launcher_weight")
        self.weight_info = QtWidgets.QLabel("")  # the last weighing and the baseline
        self.weight_info.setObjectName("launcher_weight_info")
        weight_row = QtWidgets.QHBoxLayout()
        weight_row.addWidget(self.weight)
        weight_row.addWidget(self.weight_info, 1)
        form.addRow("Weight", weight_row)
        self.fov = QtWidgets.QLineEdit()
        self.fov.setObjectName("launcher_fov")
        self.fov.setPlaceholderText("imaging days: the field of view (FOV2)")
        form.addRow("Field of view", self.fov)
        self.trials = QtWidgets.QSpinBox()
        self.trials.setObjectName("launcher_trials")
        self.trials.setRange(1, 5000)
        self.trials.setValue(1000)
        form.addRow("Trials at most", self.trials)

        self.diffs = QtWidgets.QTableWidget(0, 3)
        self.diffs.setObjectName("launcher_diffs")
        self.diffs.setHorizontalHeaderLabels(["Parameter", "Last session", "Today"])
        self.diffs.horizontalHeader().setStretchLastSection(True)
        self.diffs.verticalHeader().setVisible(False)
        outer.addWidget(QtWidgets.QLabel("Parameters that differ from the last session"))
        outer.addWidget(self.diffs, 1)

        self.problem = QtWidgets.QLabel("")
        self.problem.setObjectName("launcher_problem")
        self.problem.setWordWrap(True)
        outer.addWidget(self.problem)
        self.start = QtWidgets.QPushButton("Start session")
        self.start.setObjectName("launcher_start")
        self.start.setMinimumHeight(40)
        self.start.clicked.connect(self.start_session)
        outer.addWidget(self.start)
        self.resume = QtWidgets.QPushButton("")  # shown when the last session was interrupted
        self.resume.setObjectName("launcher_resume")
        self.resume.setVisible(False)
        self.resume.clicked.connect(self.resume_session)
        outer.addWidget(self.resume)
        self.interrupted: str | None = None  # that session's folder

        self.subject.currentTextChanged.connect(lambda _: self.refresh_suggestion())
        self.protocol.currentTextChanged.connect(lambda _: self.refresh_suggestion(keep=True))
        for signal in (
            self.step.currentIndexChanged,
            self.reason.textChanged,
            self.operator.textChanged,
            self.weight.textChanged,
        ):
            signal.connect(lambda *_: self.check_form())

    # -- data from the controller ---------------------------------------------------------------
    def load(self) -> None:
        """The form for a new session: no subject picked, operator, weight, field of view
        and override reason empty (nothing carries over from the last session)."""
        hello = self.client.request("hello")
        self.rig_label.setText(f"Rig: {hello['rig']}  ({hello['hardware_file']})")
        self.warnings.setText("\n".join(f"Warning: {w}" for w in hello["warnings"]))
        self.protocol.blockSignals(True)
        self.protocol.clear()
        self.protocol.addItems(hello["protocols"])
        if DEFAULT_PROTOCOL in hello["protocols"]:  # the curriculum's, not the first file
            self.protocol.setCurrentText(DEFAULT_PROTOCOL)
        self.protocol.blockSignals(False)
        for field in (self.operator, self.weight, self.fov, self.reason, self.new_subject):
            field.blockSignals(True)
            field.clear()
            field.blockSignals(False)
        self.reload_subjects()

    def reload_subjects(self, select: str = "") -> None:
        names = self.client.request("subjects")["subjects"]
        self.subject.blockSignals(True)
        self.subject.clear()
        self.subject.addItems(names)
        self.subject.setCurrentIndex(names.index(select) if select in names else -1)
        self.subject.blockSignals(False)
        self.refresh_suggestion()

    def create_subject(self) -> None:
        name = self.new_subject.text().strip()
        try:
            self.client.request("create_subject", subject=name)
        except ControllerError as exc:
            self.problem.setText(str(exc))
            return
        self.new_subject.clear()
        self.reload_subjects(select=name)

    def refresh_suggestion(self, keep: bool = False) -> None:
        """Ask the controller for the subject's suggestion; ``keep``: for the protocol in the
        box (the operator's choice), the day card keeping the subject's own."""
        subject = self.subject.currentText()
        if not subject:
            self.suggestion = self.suggested = None
            self.today.setText("-")
            self.weight_info.setText("")
            self.step.clear()
            self.resume.setVisible(False)
            self.interrupted = None
            self.check_form()
            return
        args = {"protocol": self.protocol.currentText()} if keep else {}
        try:
            s = self.client.request("suggest", subject=subject, **args)["suggestion"]
        except ControllerError as exc:
            self.problem.setText(str(exc))
            return
        self.suggestion = s
        if not keep or self.suggested is None or self.suggested["subject"] != subject:
            self.suggested = s
            self.suggested_protocol = s["protocol_file"]
            self.protocol.blockSignals(True)
            self.protocol.setCurrentText(s["protocol_file"])
            self.protocol.blockSignals(False)
        self.weight_info.setText(weights_text(s["weights"]))
        last = s["last_session"]
        held = last.get("held_by") if last else None
        self.interrupted = (
            last["dir"] if last and last["status"] in ("running", "crashed") and not held else None
        )
        if self.interrupted and last:
            when = str(last["start_time"])[:16].replace("T", " ")
            self.resume.setText(f"Resume the interrupted session of {when} ({last['status']})")
        self.resume.setVisible(self.interrupted is not None)
        self.step.blockSignals(True)
        self.step.clear()
        mine = s["protocol_file"] == self.suggested_protocol
        for i, label in enumerate(s["steps"]):
            mark = " (suggested)" if mine and i == s["step"] else ""
            self.step.addItem(f"{i + 1}: {label}{mark} - {s['step_descriptions'][i]}", i)
        self.step.setCurrentIndex(s["step"])
        self.step.blockSignals(False)
        self.diffs.setRowCount(len(s["differences"]))
        for row, (path, old, new) in enumerate(s["differences"]):
            for col, value in enumerate((path, old, new)):
                self.diffs.setItem(row, col, QtWidgets.QTableWidgetItem(str(value)))
        self.diffs.resizeColumnsToContents()
        self.check_form()

    def show_card(self) -> None:
        """The day card: the subject's own suggestion, and the operator's choice if other."""
        if self.suggested is None:
            self.today.setText("-")
            return
        choice = ""
        if self.overriding() and self.suggestion is not None:
            index = self.step.currentData()
            label = self.suggestion["steps"][index] if index is not None else "-"
            choice = f"{self.protocol.currentText()}, step {(index or 0) + 1}: {label}"
        self.today.setText(card_text(self.suggested, choice))

    # -- the form ---------------------------------------------------------------------------
    def overriding(self) -> bool:
        s = self.suggestion
        return s is not None and (
            self.step.currentData() != s["step"]
            or self.protocol.currentText() != self.suggested_protocol
        )

    def check_form(self) -> bool:
        self.show_card()
        problems = []
        if self.suggestion is None:
            problems.append("pick or create a subject")
        if not self.operator.text().strip():
            problems.append("enter the operator")
        if self.weight.problem():
            problems.append(self.weight.problem())
        elif self.weight.value() is None:
            problems.append("enter today's weight")
        if self.overriding() and not self.reason.text().strip():
            problems.append("give the reason for starting elsewhere than suggested")
        self.problem.setText("; ".join(problems))
        self.start.setEnabled(not problems)
        return not problems

    def questions(self) -> list[str]:
        """What to ask before starting: today's weight against the last weighing and the
        baseline, and the subject's earlier sessions of today."""
        s, weight = self.suggested, self.weight.value()
        if s is None or weight is None:
            return []
        out = weight_questions(
            weight, _weighing(s["weights"]["last"]), _weighing(s["weights"]["baseline"])
        )
        if s["today"]:
            out.append(
                f"{s['subject']} already had {len(s['today'])} session(s) today: "
                f"{earlier_sessions(s['today'])}; {s['earlier_water_today_ul']:.0f} uL of "
                f"water so far, counted against today's target"
            )
        return out

    def ask(self, title: str, text: str) -> bool:
        """Yes or no from the operator (a dialog; tests replace this method)."""
        return ask_yes_no(self, title, text)

    def request(self) -> dict[str, Any]:
        req: dict[str, Any] = {
            "subject": self.subject.currentText(),
            "protocol": self.protocol.currentText(),
            "operator": self.operator.text().strip(),
            "weight_g": self.weight.value(),
            "trials": self.trials.value(),
        }
        if self.fov.text().strip():
            req["fov"] = self.fov.text().strip()
        if self.overriding():
            req["override_reason"] = self.reason.text().strip()
            if self.suggestion is not None and self.step.currentData() != self.suggestion["step"]:
                req["start_step"] = self.step.currentData()
        return req

    def resume_session(self) -> None:
        """Continue the subject's interrupted session in its folder (``rig resume``)."""
        if self.interrupted is None:
            return
        try:
            self.client.request("resume", session=self.interrupted)
        except ControllerError as exc:
            self.problem.setText(str(exc))
            return
        self.started.emit({"resume": self.interrupted})

    def start_session(self) -> None:
        if not self.check_form():
            return
        req = self.request()
        asked = self.questions()
        if asked:
            if not self.ask("Before starting", "\n\n".join(asked) + "\n\nStart the session?"):
                self.problem.setText("not started: " + asked[0])
                return
            req["notes"] = "\n".join(f"asked at start, started anyway: {q}" for q in asked)
        try:
            self.client.request("start", **req)
        except ControllerError as exc:
            self.problem.setText(str(exc))
            return
        self.started.emit(req)
