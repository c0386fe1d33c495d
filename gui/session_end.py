"""The end of a session: the summary, the weight after, notes; saved with the session."""

from __future__ import annotations

from typing import Any

from PyQt6 import QtWidgets

from gui.widgets import weight_box
from rig.bus import SessionEnded
from rig.control.client import ControllerClient, ControllerError


def summary_text(ended: SessionEnded) -> str:
    s: dict[str, Any] = ended.summary
    if "error" in s:
        return f"status {ended.status}: {s['error']}"
    out = s.get("outcomes", {})
    pcs = ", ".join(
        f"{k} {v:.0f} %"
        for k, v in s.get("percent_correct_by_context", {}).items()
        if v is not None
    )
    return (
        f"status {ended.status}; {s.get('trials', 0)} trials: {out.get('hit', 0)} hit, "
        f"{out.get('error', 0)} error, {out.get('no_response', 0)} no response\n"
        f"correct by context: {pcs or '-'}\n"
        f"water {s.get('water_ul', 0):.0f} uL in trials + "
        f"{s.get('hand_water_ul', 0):.1f} uL by hand; ended in {s.get('end_label', '-')}"
    )


class SessionEndDialog(QtWidgets.QDialog):
    def __init__(
        self,
        client: ControllerClient,
        ended: SessionEnded,
        session_dir: str,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.session_dir = session_dir  # the session this form belongs to, by name
        self.setWindowTitle("Session ended")
        self.client = client
        form = QtWidgets.QFormLayout(self)
        self.summary = QtWidgets.QLabel(summary_text(ended))
        self.summary.setObjectName("end_summary")
        form.addRow(self.summary)
        self.weight = weight_box("end_weight")
        form.addRow("Weight after", self.weight)
        self.notes = QtWidgets.QPlainTextEdit()
        self.notes.setObjectName("end_notes")
        form.addRow("Notes", self.notes)
        self.problem = QtWidgets.QLabel("")
        self.problem.setObjectName("end_problem")
        form.addRow(self.problem)
        save = QtWidgets.QPushButton("Save")
        save.setObjectName("end_save")
        save.clicked.connect(self.save)
        form.addRow(save)

    def save(self) -> None:
        fields: dict[str, Any] = {"notes": self.notes.toPlainText().strip()}
        if self.session_dir:
            fields["session_dir"] = self.session_dir
        if self.weight.value() > 0:
            fields["weight_g"] = self.weight.value()
        try:
            self.client.request("annotate", **fields)
        except ControllerError as exc:
            self.problem.setText(str(exc))
            return
        self.accept()
