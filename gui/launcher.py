"""The launcher: who is on the rig today, and what they do.

Pick or create the subject; the controller suggests the protocol and curriculum step from
the subject's own sessions (either can be overridden, with a reason); the parameters that
differ from the subject's last session are listed before the start; operator and weight
are required. Start is one click once the form is complete.
"""

from __future__ import annotations

from typing import Any

from PyQt6 import QtCore, QtWidgets

from gui.widgets import weight_box
from rig.control.client import ControllerClient, ControllerError


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} %"


class Launcher(QtWidgets.QWidget):
    started = QtCore.pyqtSignal(dict)  # the start request, once the controller accepted it

    def __init__(self, client: ControllerClient, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.suggestion: dict[str, Any] | None = None
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
        self.weight = weight_box("launcher_weight")
        form.addRow("Weight", self.weight)
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
            self.weight.valueChanged,
        ):
            signal.connect(lambda *_: self.check_form())

    # -- data from the controller ---------------------------------------------------------------
    def load(self) -> None:
        hello = self.client.request("hello")
        self.rig_label.setText(f"Rig: {hello['rig']}  ({hello['hardware_file']})")
        self.warnings.setText("\n".join(f"Warning: {w}" for w in hello["warnings"]))
        self.protocol.blockSignals(True)
        self.protocol.clear()
        self.protocol.addItems(hello["protocols"])
        self.protocol.blockSignals(False)
        self.reload_subjects()

    def reload_subjects(self, select: str = "") -> None:
        names = self.client.request("subjects")["subjects"]
        self.subject.blockSignals(True)
        self.subject.clear()
        self.subject.addItems(names)
        if select:
            self.subject.setCurrentText(select)
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
        subject = self.subject.currentText()
        if not subject:
            self.suggestion = None
            self.check_form()
            return
        args = {"protocol": self.protocol.currentText()} if keep else {}
        try:
            s = self.client.request("suggest", subject=subject, **args)["suggestion"]
        except ControllerError as exc:
            self.problem.setText(str(exc))
            return
        self.suggestion = s
        if not keep:
            self.suggested_protocol = s["protocol_file"]
            self.protocol.blockSignals(True)
            self.protocol.setCurrentText(s["protocol_file"])
            self.protocol.blockSignals(False)
        last = s["last_session"]
        text = f"{s['label']} (step {s['step'] + 1} of {len(s['steps'])})"
        if s["curriculum_completed"]:
            text += ", curriculum completed"
        text += (
            f"; last session {str(last['start_time'])[:16].replace('T', ' ')}: "
            f"{last['trials']} trials, {_pct(last['percent_correct'])} correct, "
            f"ended in {last['end_label']} ({last['status']}); weight {last['weight_g'] or '-'} g"
            if last
            else "; first session"
        )
        held = last.get("held_by") if last else None
        if held:  # another process still writes it: running elsewhere, not to be resumed
            text += (
                f"; that session is running elsewhere (pid {held['pid']} on {held['host']} "
                f"since {str(held['since'])[:16].replace('T', ' ')})"
            )
        self.today.setText(text)
        self.interrupted = (
            last["dir"] if last and last["status"] in ("running", "crashed") and not held else None
        )
        if self.interrupted and last:
            when = str(last["start_time"])[:16].replace("T", " ")
            self.resume.setText(f"Resume the interrupted session of {when} ({last['status']})")
        self.resume.setVisible(self.interrupted is not None)
        self.step.blockSignals(True)
        self.step.clear()
        for i, label in enumerate(s["steps"]):
            self.step.addItem(f"{i + 1}: {label}", i)
        self.step.setCurrentIndex(s["step"])
        self.step.blockSignals(False)
        self.diffs.setRowCount(len(s["differences"]))
        for row, (path, old, new) in enumerate(s["differences"]):
            for col, value in enumerate((path, old, new)):
                self.diffs.setItem(row, col, QtWidgets.QTableWidgetItem(str(value)))
        self.diffs.resizeColumnsToContents()
        self.check_form()

    # -- the form ---------------------------------------------------------------------------
    def overriding(self) -> bool:
        s = self.suggestion
        return s is not None and (
            self.step.currentData() != s["step"]
            or self.protocol.currentText() != self.suggested_protocol
        )

    def check_form(self) -> bool:
        problems = []
        if self.suggestion is None:
            problems.append("pick or create a subject")
        if not self.operator.text().strip():
            problems.append("enter the operator")
        if self.weight.value() <= 0:
            problems.append("enter today's weight")
        if self.overriding() and not self.reason.text().strip():
            problems.append("give the reason for starting elsewhere than suggested")
        self.problem.setText("; ".join(problems))
        self.start.setEnabled(not problems)
        return not problems

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
        try:
            self.client.request("start", **req)
        except ControllerError as exc:
            self.problem.setText(str(exc))
            return
        self.started.emit(req)
