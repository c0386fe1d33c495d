"""The valve calibration dialog: pulse, weigh, fit, save; and the spot check.

For the chosen valve: at each open time, the rig delivers N pulses (on the device, timed
there); the technician weighs the water and types the weight in mg; the dialog shows the
volume per opening and the least-squares line through them beside the current
calibration, and saves the points, dated, to the rig's hardware config. The spot check
runs N pulses at the reward's open time and compares the weight with the calibration;
more than 10 % off is warned about here and at every launch until the valve is
recalibrated. On the simulated rig the "scale" is simulated and fills the weights in.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

from rig.control.calibration import fit_line
from rig.control.client import ControllerClient, ControllerError

DEFAULT_OPEN_S = (0.01, 0.02, 0.04, 0.08)


def _interp(points: list[dict[str, float]], open_s: float) -> float:
    xs = [p["open_s"] for p in points]
    ys = [p["volume_ul"] for p in points]
    return float(np.interp(open_s, xs, ys))


class CalibrationDialog(QtWidgets.QDialog):
    def __init__(self, client: ControllerClient, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Valve calibration")
        self.client = client
        self.hello = client.request("hello")
        outer = QtWidgets.QHBoxLayout(self)
        left = QtWidgets.QVBoxLayout()
        outer.addLayout(left, 1)
        form = QtWidgets.QFormLayout()
        left.addLayout(form)
        self.valve = QtWidgets.QComboBox()
        self.valve.setObjectName("calibration_valve")
        self.valve.addItems(["valve_left", "valve_right"])
        self.valve.currentTextChanged.connect(lambda _: self.replot())
        form.addRow("Valve", self.valve)
        self.pulses = QtWidgets.QSpinBox()
        self.pulses.setObjectName("calibration_pulses")
        self.pulses.setRange(1, 100)
        self.pulses.setValue(100)
        form.addRow("Pulses per open time", self.pulses)
        self.interval = QtWidgets.QDoubleSpinBox()
        self.interval.setRange(0.05, 5.0)
        self.interval.setValue(0.5)
        self.interval.setSuffix(" s")
        form.addRow("Between pulses", self.interval)

        self.table = QtWidgets.QTableWidget(len(DEFAULT_OPEN_S), 3)
        self.table.setObjectName("calibration_table")
        self.table.setHorizontalHeaderLabels(["Open time (s)", "Weight (mg)", "uL per opening"])
        for row, open_s in enumerate(DEFAULT_OPEN_S):
            self.table.setItem(row, 0, QtWidgets.QTableWidgetItem(f"{open_s}"))
            self.table.setItem(row, 1, QtWidgets.QTableWidgetItem(""))
            self.table.setItem(row, 2, QtWidgets.QTableWidgetItem(""))
        self.table.itemChanged.connect(lambda _: self.replot())
        left.addWidget(self.table)
        buttons = QtWidgets.QHBoxLayout()
        for key, text, slot in (
            ("deliver", "Deliver pulses (all rows)", self.deliver_all),
            ("save", "Save calibration", self.save),
        ):
            b = QtWidgets.QPushButton(text)
            b.setObjectName(f"calibration_{key}")
            b.clicked.connect(slot)
            buttons.addWidget(b)
        self.abort_button = QtWidgets.QPushButton("Abort the pulses")
        self.abort_button.setObjectName("calibration_abort")
        self.abort_button.setEnabled(False)
        self.abort_button.clicked.connect(self.abort_delivery)
        buttons.addWidget(self.abort_button)
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
        self.plot.addLegend()
        self.current_curve = self.plot.plot(pen=pg.mkPen("#9e9e9e"), name="current calibration")
        self.points_item = self.plot.plot(
            pen=None, symbol="o", symbolBrush="#1f77b4", name="measured"
        )
        self.fit_curve = self.plot.plot(pen=pg.mkPen("#1f77b4"), name="least-squares line")
        outer.addWidget(self.plot, 1)
        self.resize(1000, 520)
        self.replot()

    # -- values -----------------------------------------------------------------------------
    def measured(self) -> list[tuple[float, float]]:
        """(open s, uL per opening) of every row with a weight."""
        points = []
        for row in range(self.table.rowCount()):
            try:
                open_s = float(self.table.item(row, 0).text())  # type: ignore[union-attr]
                weight = float(self.table.item(row, 1).text())  # type: ignore[union-attr]
            except (ValueError, AttributeError):
                continue
            points.append((open_s, weight / self.pulses.value()))
        return points

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
        points = self.measured()
        self.table.blockSignals(True)
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 2)
            if item is not None:
                item.setText("")
        for row, (_, per) in zip(self._rows_with_weight(), points, strict=False):
            self.table.item(row, 2).setText(f"{per:.3f}")  # type: ignore[union-attr]
        self.table.blockSignals(False)
        self.points_item.setData([x for x, _ in points], [y for _, y in points])
        if len({x for x, _ in points}) >= 2:
            fit = fit_line(points)
            xs = np.array([0.0, max(x for x, _ in points) * 1.1])
            self.fit_curve.setData(xs, fit.slope_ul_per_s * xs + fit.intercept_ul)
            self.message.setText(
                f"fit: {fit.slope_ul_per_s:.1f} uL/s x open time {fit.intercept_ul:+.2f} uL"
            )
        else:
            self.fit_curve.setData([], [])

    def _rows_with_weight(self) -> list[int]:
        rows = []
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 1)
            try:
                float(item.text())  # type: ignore[union-attr]
            except (ValueError, AttributeError):
                continue
            rows.append(row)
        return rows

    # -- actions -----------------------------------------------------------------------------
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
                    f"delivering {self.pulses.value()} pulses of {open_s} s from "
                    f"{status.get('valve', '?')}: {status.get('openings', 0)} so far"
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
            raise ControllerError(f"calibrate: {status['error']}")
        if status.get("aborted"):
            raise ControllerError(f"calibrate: aborted after {status['openings']} openings")
        return status

    def abort_delivery(self) -> None:
        try:
            self.client.request("abort_calibration")
        except ControllerError as exc:
            self.message.setText(f"not aborted: {exc}")

    def deliver_all(self) -> None:
        try:
            for row in range(self.table.rowCount()):
                open_s = float(self.table.item(row, 0).text())  # type: ignore[union-attr]
                reply = self._deliver(open_s)
                if "simulated_weight_mg" in reply:
                    self.table.item(row, 1).setText(f"{reply['simulated_weight_mg']}")  # type: ignore[union-attr]
        except (ControllerError, ValueError) as exc:
            self.message.setText(f"refused: {exc}")
            return
        self.replot()

    def save(self) -> None:
        points = self.measured()
        try:
            reply = self.client.request(
                "save_calibration", valve=self.valve.currentText(), points=points
            )
        except ControllerError as exc:
            self.message.setText(f"not saved: {exc}")
            return
        self.hello = self.client.request("hello")
        self.replot()
        warnings = "; ".join(reply["warnings"]) or "no warnings"
        self.message.setText(
            f"saved {len(points)} points for {self.valve.currentText()} ({warnings})"
        )

    def spot_deliver(self) -> None:
        try:
            reply = self._deliver(self.reward_open_s())
        except ControllerError as exc:
            self.message.setText(f"refused: {exc}")
            return
        if "simulated_weight_mg" in reply:
            self.spot_weight.setValue(reply["simulated_weight_mg"])
        self.message.setText(f"{reply['openings']} openings of {self.reward_open_s()} s delivered")

    def spot_check(self) -> None:
        try:
            reply = self.client.request(
                "spot_check",
                valve=self.valve.currentText(),
                open_s=self.reward_open_s(),
                pulses=self.pulses.value(),
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
