"""The end of a session: the summary, the water and the supplement to give, the weight
after (or why there is none), notes; saved with the session.

Each percent correct says its window: the last ``window`` responded trials (or all of
them, when there were fewer), the whole session, each context's last responded trials.
The supplement is the day's water target (the protocol's ``reward.session_target_ul``)
minus what the mouse got today: its earlier sessions of the day and this one (trials, by
hand, interrupted trials), from the session's ``SessionStarted`` info.
"""

from __future__ import annotations

from typing import Any

from PyQt6 import QtWidgets

from gui.feedback import ENDED_BY_WORDS
from gui.widgets import WeightEntry
from rig.bus import SessionEnded
from rig.control.client import ControllerClient, ControllerError
from rig.session.day import summary_water_ul


def correct_text(s: dict[str, Any]) -> str:
    """The percents correct, each with its window."""
    out = s.get("outcomes", {})
    hits, errors = out.get("hit", 0), out.get("error", 0)
    responded, window = hits + errors, int(s.get("window", 100))
    if not responded:
        return "correct: no responded trial"
    recent = s.get("percent_correct")
    span = (
        f"over the last {window} responded trials"
        if responded > window
        else f"over all {responded} responded trials"
    )
    text = f"correct: {recent:.0f} % {span}" if recent is not None else "correct: -"
    if responded > window:
        text += f"; {100 * hits / responded:.0f} % over the whole session ({responded} responded)"
    by_context = ", ".join(
        f"{k} {v:.0f} %"
        for k, v in s.get("percent_correct_by_context", {}).items()
        if v is not None
    )
    if by_context:
        text += (
            f"\ncorrect by context, each over its last {window} responded trials in this "
            f"session (all of them if fewer): {by_context}"
        )
    return text


def summary_text(ended: SessionEnded) -> str:
    s: dict[str, Any] = ended.summary
    if "error" in s:
        return f"status {ended.status}: {s['error']}"
    out = s.get("outcomes", {})
    how = ENDED_BY_WORDS.get(str(s.get("ended_by")), "")
    return (
        f"status {ended.status}{' (' + how + ')' if how else ''}; {s.get('trials', 0)} trials: "
        f"{out.get('hit', 0)} hit, {out.get('error', 0)} error, "
        f"{out.get('no_response', 0)} no response\n"
        f"{correct_text(s)}\n"
        f"water {s.get('water_ul', 0):.0f} uL in trials + "
        f"{s.get('hand_water_ul', 0):.1f} uL by hand; ended in {s.get('end_label', '-')}"
    )


def supplement_ul(summary: dict[str, Any], info: dict[str, Any] | None) -> float | None:
    """The water still to give today: the target minus today's (earlier sessions and this
    one), at least 0; None when the target is not known."""
    target = (info or {}).get("water_target_ul")
    if not isinstance(target, int | float):
        return None
    earlier = float((info or {}).get("earlier_water_today_ul") or 0.0)
    return max(0.0, float(target) - earlier - summary_water_ul(summary))


def water_text(summary: dict[str, Any], info: dict[str, Any] | None) -> str:
    if "error" in summary:
        return "the session ended with an error: its water is not known here"
    this = summary_water_ul(summary)
    give = supplement_ul(summary, info)
    if give is None or info is None:
        return f"water this session {this:.0f} uL; the day's target is not known here"
    earlier = float(info.get("earlier_water_today_ul") or 0.0)
    target = float(info["water_target_ul"])
    return (
        f"Supplement to give: {give:.0f} uL (today's target {target:.0f} uL - "
        f"{earlier:.0f} uL in earlier sessions today - {this:.0f} uL in this one)"
    )


class SessionEndDialog(QtWidgets.QDialog):
    def __init__(
        self,
        client: ControllerClient,
        ended: SessionEnded,
        session_dir: str,
        parent: QtWidgets.QWidget | None = None,
        *,
        info: dict[str, Any] | None = None,  # the session's SessionStarted info
    ) -> None:
        super().__init__(parent)
        self.session_dir = session_dir  # the session this form belongs to, by name
        self.setWindowTitle("Session ended")
        self.client = client
        form = QtWidgets.QFormLayout(self)
        self.summary = QtWidgets.QLabel(summary_text(ended))
        self.summary.setObjectName("end_summary")
        form.addRow(self.summary)
        self.supplement_ul = None if "error" in ended.summary else supplement_ul(
            ended.summary, info
        )  # fmt: skip
        self.water = QtWidgets.QLabel(water_text(ended.summary, info))
        self.water.setObjectName("end_water")
        self.water.setStyleSheet("font-weight: bold;")
        form.addRow(self.water)
        self.weight = WeightEntry("end_weight", "weight after")
        form.addRow("Weight after", self.weight)
        self.no_weight = QtWidgets.QLineEdit()
        self.no_weight.setObjectName("end_no_weight")
        self.no_weight.setPlaceholderText("no weight because ... (only when there is none)")
        form.addRow("No weight", self.no_weight)
        self.notes = QtWidgets.QPlainTextEdit()
        self.notes.setObjectName("end_notes")
        form.addRow("Notes", self.notes)
        self.problem = QtWidgets.QLabel("")
        self.problem.setObjectName("end_problem")
        self.problem.setStyleSheet("color: #b00020;")
        form.addRow(self.problem)
        save = QtWidgets.QPushButton("Save")
        save.setObjectName("end_save")
        save.clicked.connect(self.save)
        form.addRow(save)

    def fields(self) -> dict[str, Any] | None:
        """The annotate request's fields, or None (and the problem said) if incomplete:
        the weight after is required, or the reason why there is none (kept in the notes)."""
        if self.weight.problem():
            self.problem.setText(self.weight.problem())
            return None
        weight, why = self.weight.value(), self.no_weight.text().strip()
        if weight is None and not why:
            self.problem.setText("weight after: enter it, or say why there is none")
            return None
        notes = self.notes.toPlainText().strip()
        fields: dict[str, Any] = {}
        if weight is not None:
            fields["weight_g"] = weight
        else:
            notes = "\n".join(x for x in (notes, f"no weight after: {why}") if x)
        fields["notes"] = notes
        if self.session_dir:
            fields["session_dir"] = self.session_dir
        return fields

    def save(self) -> None:
        fields = self.fields()
        if fields is None:
            return
        try:
            self.client.request("annotate", **fields)
        except ControllerError as exc:
            self.problem.setText(str(exc))
            return
        self.accept()
