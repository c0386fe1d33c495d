"""The valve calibration dialog: a step at a time (pulse, weigh, next), fit, save; spot check.

For the chosen valve, one open time a step: the rig delivers N pulses at that open time
(on the device, timed there, in the controller: the window stays alive and Abort ends
them); the technician weighs the tube, types the weight in mg in the step's row, puts a
new tube under the valve, then presses Next for the next open time. The dialog shows the
volume per opening and the least-squares line through them beside the current
calibration, and saves the points, dated, to the rig's hardware config (the config's
previous versions are kept in ``<config>.history/``). Points that make an implausible line
(an intercept far from 0, a falling line, a point far from the others' line: a 10x typo)
are questioned before saving (:meth:`CalibrationDialog.ask`, which tests replace).
Changing the valve clears the table. The spot check runs N pulses at the reward's open
time and compares the weight with the calibration; more than 10 % off is warned about
here and at every launch until the valve is recalibrated. On the simulated rig the
"scale" is simulated and fills each step's weight in.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

from gui.calibration_table import OPEN, PER, PULSES, WEIGHT, PointsTable
from gui.widgets import ask_yes_no
from rig.control.calibration import fit_line, questions
from rig.control.client import ControllerClient, ControllerError


class CalibrationDialog(QtWidgets.QDialog):
    def __init__(self, client: ControllerClient, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Valve calibration")
        self.client = client
        self.hello = client.request("hello")
        self.step = 0  # the row the next delivery is for
        self.delivered: int | None = None  # the row delivered last, waiting for its weight
        self.spot_openings = 0
        self.saved: list[tuple[float, float]] = []  # the points saved last
        outer = QtWidgets.QHBoxLayout(self)
        left = QtWidgets.QVBoxLayout()
        outer.addLayout(left, 1)
        form = QtWidgets.QFormLayout()
        left.addLayout(form)
        self.valve = QtWidgets.QComboBox()
        self.valve.setObjectName("calibration_valve")
        self.valve.addItems(["valve_left", "valve_right"])
        self._valve_shown = self.valve.currentText()
        self.valve.currentTextChanged.connect(self.valve_changed)
        form.addRow("Valve", self.valve)
        self.pulses = QtWidgets.QSpinBox()
        self.pulses.setObjectName("calibration_pulses")
        self.pulses.setRange(1, 100)
        self.pulses.setValue(100)
        self.pulses.valueChanged.connect(lambda _: self.show_step())
        form.addRow("Pulses per open time", self.pulses)
        self.interval = QtWidgets.QDoubleSpinBox()
        self.interval.setRange(0.05, 5.0)
        self.interval.setValue(0.5)
        self.interval.setSuffix(" s")
        form.addRow("Between pulses", self.interval)

        self.table = PointsTable()
        self.table.itemChanged.connect(lambda _: self.replot())
        left.addWidget(self.table)
        self.step_label = QtWidgets.QLabel("")
        self.step_label.setObjectName("calibration_step")
        self.step_label.setWordWrap(True)
        left.addWidget(self.step_label)
        buttons = QtWidgets.QHBoxLayout()
        self.deliver_button = QtWidgets.QPushButton("")
        self.deliver_button.setObjectName("calibration_deliver")
        self.deliver_button.clicked.connect(self.deliver_step)
        buttons.addWidget(self.deliver_button)
        self.abort_button = QtWidgets.QPushButton("Abort the pulses")
        self.abort_button.setObjectName("calibration_abort")
        self.abort_button.setEnabled(False)
        self.abort_button.clicked.connect(self.abort_delivery)
        buttons.addWidget(self.abort_button)
        save = QtWidgets.QPushButton("Save calibration")
        save.setObjectName("calibration_save")
        save.clicked.connect(self.save)
        buttons.addWidget(save)
        left.addLayout(buttons)

        spot = QtWidgets.QGroupBox("Spot check at the reward volume")
        spot_form = QtWidgets.QFormLayout(spot)
        self.spot_weight = QtWidgets.QDoubleSpinBox()
        self.spot_weight.setObjectName("spot_weight")
        self.spot_weight.setRange(0, 10000)
        self.spot_weight.setSuffix(" mg")
        spot_form.addRow("Weight", self.spot_weight)
        row = QtWidgets.QHBoxLayout()
        for key, text, slot in (
            ("spot_deliver", "Deliver", self.spot_deliver),
            ("spot_check", "Check", self.spot_check),
        ):
            b = QtWidgets.QPushButton(text)
            b.setObjectName(key)
            b.clicked.connect(slot)
            row.addWidget(b)
        spot_form.addRow(row)
        left.addWidget(spot)
        self.message = QtWidgets.QLabel("")
        self.message.setObjectName("calibration_message")
        self.message.setWordWrap(True)
        left.addWidget(self.message)

        self.plot = pg.PlotWidget(title="Volume per opening (uL) against open time (s)")
        self.plot.setBackground("w")
        self.plot.setLabel("bottom", "open time (s)")
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)  # seconds, not "(x0.001)"
        self.plot.setLabel("left", "volume per opening (uL)")
        self.plot.addLegend(offset=(10, 10))
        self.current_curve = self.plot.plot(pen=pg.mkPen("#9e9e9e"), name="current calibration")
        self.points_item = self.plot.plot(
            pen=None, symbol="o", symbolBrush="#1f77b4", name="measured"
        )
        self.fit_curve = self.plot.plot(pen=pg.mkPen("#1f77b4"), name="least-squares line")
        outer.addWidget(self.plot, 1)
        self.resize(1000, 560)
        self.replot()

    # -- the table ---------------------------------------------------------------------------
    def rows(self) -> tuple[list[tuple[int, float, float]], list[str]]:
        return self.table.rows(self.pulses.value())

    def measured(self) -> list[tuple[float, float]]:
        """(open s, uL per opening) of every row with a usable weight."""
        return [(x, y) for _, x, y in self.rows()[0]]

    def valve_changed(self, valve: str) -> None:
        """A new valve starts from an empty table (the other valve's weights are not its)."""
        if valve == self._valve_shown:
            return
        if self.measured() not in ([], self.saved) and not self.ask(
            "Discard the weights?",
            f"The weights typed for {self._valve_shown} are not saved. Discard them and "
            f"calibrate {valve}?",
        ):
            self.valve.blockSignals(True)
            self.valve.setCurrentText(self._valve_shown)
            self.valve.blockSignals(False)
            return
        self._valve_shown = valve
        self.table.clear_steps()
        self.step, self.delivered = 0, None
        self.replot()
        self.message.setText(f"The table is cleared for {valve}.")

    # -- values -----------------------------------------------------------------------------
    def current_points(self) -> list[dict[str, float]]:
        valves: dict[str, Any] = self.hello["valves"]
        return list(valves[self.valve.currentText()]["points"])

    def reward_open_s(self) -> float:
        points = self.current_points()
        xs = [p["volume_ul"] for p in points]
        ys = [p["open_s"] for p in points]
        return round(float(np.interp(self.hello["reward_ul"], xs, ys)), 4)

    def replot(self) -> None:
        current = self.current_points()
        self.current_curve.setData(
            [p["open_s"] for p in current], [p["volume_ul"] for p in current]
        )
        rows, problems = self.rows()
        for row in range(self.table.rowCount()):
            self.table.put(row, PER, "")
        for row, _, per in rows:
            self.table.put(row, PER, f"{per:.3f}")
        points = [(x, y) for _, x, y in rows]
        self.points_item.setData([x for x, _ in points], [y for _, y in points])
        if len({x for x, _ in points}) >= 2:
            fit = fit_line(points)
            xs = np.array([0.0, max(x for x, _ in points) * 1.1])
            self.fit_curve.setData(xs, fit.slope_ul_per_s * xs + fit.intercept_ul)
            self.message.setText(self.fit_text())
        else:
            self.fit_curve.setData([], [])
        if problems:
            self.message.setText("; ".join(problems))
        self.show_step()

    def fit_text(self) -> str:
        points = self.measured()
        if len({x for x, _ in points}) < 2:
            return ""
        fit = fit_line(points)
        return f"fit: {fit.slope_ul_per_s:.1f} uL/s x open time {fit.intercept_ul:+.2f} uL"

    def show_step(self) -> None:
        """The step to come: its open time, or that the last one waits for its weight."""
        n = self.table.rowCount()
        weighed = {row for row, _, _ in self.rows()[0]}
        waiting = self.delivered is not None and self.delivered not in weighed
        if waiting:
            assert self.delivered is not None
            self.step_label.setText(
                f"Step {self.delivered + 1} of {n} done: weigh the tube, type the weight in mg "
                f"in row {self.delivered + 1}, put a new tube under the valve, then Next."
            )
        elif self.step < n:
            self.step_label.setText(
                f"Step {self.step + 1} of {n}: {self.pulses.value()} pulses of "
                f"{self.table.text(self.step, OPEN)} s from {self.valve.currentText()}, into an "
                "empty tube."
            )
        else:
            self.step_label.setText(f"All {n} steps weighed: check the line, then save.")
        first = self.step == 0 and self.delivered is None
        what = "Deliver step 1" if first else f"Next: step {min(self.step, n - 1) + 1}"
        self.deliver_button.setText(what if self.step < n else "All steps delivered")
        self.deliver_button.setEnabled(not waiting and self.step < n)

    # -- the pulses -----------------------------------------------------------------------------
    def _deliver(self, open_s: float) -> dict[str, Any]:
        """Start the pulses on the controller and wait for them with the window alive (the
        Abort button ends them); their status at the end."""
        self.client.request(
            "calibrate",
            valve=self.valve.currentText(),
            open_s=open_s,
            pulses=self.pulses.value(),
            interval_s=self.interval.value(),
        )
        self.abort_button.setEnabled(True)
        self.deliver_button.setEnabled(False)
        loop = QtCore.QEventLoop(self)
        status: dict[str, Any] = {}

        def check() -> None:
            try:
                status.update(self.client.request("calibration"))
            except ControllerError as exc:
                status.update(running=False, error=str(exc))
            if not status.get("running", True):
                loop.quit()
            else:
                self.message.setText(
                    f"Delivering {self.pulses.value()} pulses of {open_s} s from "
                    f"{status.get('valve', '?')}: {status.get('openings', 0)} so far."
                )

        timer = QtCore.QTimer(self)
        timer.timeout.connect(check)
        timer.start(100)
        try:
            loop.exec()
        finally:
            timer.stop()
            self.abort_button.setEnabled(False)
        if status.get("error"):
            raise ControllerError(f"The pulses could not be delivered: {status['error']}.")
        if status.get("aborted"):
            raise ControllerError(
                f"The pulses at {open_s} s were stopped after {status['openings']} of "
                f"{self.pulses.value()} openings; empty the tube and deliver this step again."
            )
        return status

    def deliver_step(self) -> bool:
        """Deliver the pulses of the current step; True if they were all given."""
        row = self.step
        try:
            reply = self._deliver(self.table.open_s(row))
        except (ControllerError, ValueError) as exc:
            self.message.setText(str(exc))
            self.show_step()
            return False
        self.table.put(row, PULSES, str(reply["openings"]))
        # the simulated rig's scale weighs it; a real one waits for the technician's weight
        self.table.put(row, WEIGHT, f"{reply.get('simulated_weight_mg', '')}")
        self.delivered, self.step = row, row + 1
        self.replot()
        open_text = self.table.text(row, OPEN)
        given = f"Step {row + 1}: {reply['openings']} openings of {open_text} s given"
        if "simulated_weight_mg" in reply:
            weighed = f"; the simulated scale weighed {reply['simulated_weight_mg']} mg. "
            self.message.setText(given + weighed + self.fit_text())
        else:
            self.message.setText(given + ": weigh them.")
        return True

    def deliver_all(self) -> None:
        """Every step left, one after the other, while each one's weight is there (the
        simulated scale); on a real scale this stops after one step, for the weighing."""
        while self.deliver_button.isEnabled() and self.deliver_step():
            pass

    def abort_delivery(self) -> None:
        try:
            self.client.request("abort_calibration")
        except ControllerError as exc:
            self.message.setText(f"Not aborted: {exc}")

    # -- saving ------------------------------------------------------------------------------
    def ask(self, title: str, text: str) -> bool:
        """Yes or no (a modal dialog; tests replace this method)."""
        return ask_yes_no(self, title, text)

    def save(self) -> None:
        rows, problems = self.rows()
        valve = self.valve.currentText()
        if problems:
            self.message.setText(f"Not saved: {'; '.join(problems)}.")
            return
        points = [(x, y) for _, x, y in rows]
        found = questions(points)
        if found and not self.ask(
            "Save these points?",
            f"The points for {valve} look wrong:\n\n- "
            + "\n- ".join(found)
            + "\n\nSave them anyway?",
        ):
            self.message.setText(f"Not saved: {'; '.join(found)}. Check the weights.")
            return
        try:
            reply = self.client.request(
                "save_calibration", valve=valve, points=points, confirmed=bool(found)
            )
        except ControllerError as exc:
            self.message.setText(f"Not saved: {exc}")
            return
        self.saved = points
        self.hello = self.client.request("hello")
        self.replot()
        warnings = "; ".join(reply["warnings"]) or "no warnings"
        self.message.setText(f"saved {len(points)} points for {valve} ({warnings})")

    # -- the spot check -------------------------------------------------------------------------
    def spot_deliver(self) -> None:
        try:
            reply = self._deliver(self.reward_open_s())
        except ControllerError as exc:
            self.message.setText(str(exc))
            self.show_step()
            return
        self.show_step()
        self.spot_openings = int(reply["openings"])
        if "simulated_weight_mg" in reply:
            self.spot_weight.setValue(reply["simulated_weight_mg"])
        self.message.setText(f"{reply['openings']} openings of {self.reward_open_s()} s delivered")

    def spot_check(self) -> None:
        try:
            reply = self.client.request(
                "spot_check",
                valve=self.valve.currentText(),
                open_s=self.reward_open_s(),
                pulses=self.spot_openings or self.pulses.value(),
                weight_mg=self.spot_weight.value(),
            )
        except ControllerError as exc:
            self.message.setText(f"refused: {exc}")
            return
        verdict = "within 10 %" if abs(reply["drift_percent"]) <= 10 else "RECALIBRATE"
        self.message.setText(
            f"spot check: {reply['measured_ul']:.2f} uL per opening, calibration says "
            f"{reply['expected_ul']:.2f} uL ({reply['drift_percent']:+.1f} %): {verdict}"
        )
