"""The calibration dialog's table: one row an open time (a step), with the pulses given,
the weight typed and the volume per opening; each problem of a row named by its row."""

from __future__ import annotations

from PyQt6 import QtWidgets

DEFAULT_OPEN_S = (0.01, 0.02, 0.04, 0.08)
OPEN, PULSES, WEIGHT, PER = range(4)  # the columns


class PointsTable(QtWidgets.QTableWidget):
    def __init__(self, open_times: tuple[float, ...] = DEFAULT_OPEN_S) -> None:
        super().__init__(len(open_times), 4)
        self.open_times = open_times
        self.setObjectName("calibration_table")
        self.setHorizontalHeaderLabels(
            ["Open time (s)", "Pulses given", "Weight (mg)", "uL per opening"]
        )
        self.clear_steps()

    def clear_steps(self) -> None:
        """Every row's open time, and nothing delivered or weighed."""
        self.blockSignals(True)
        for row, open_s in enumerate(self.open_times):
            self.setItem(row, OPEN, QtWidgets.QTableWidgetItem(f"{open_s}"))
            for col in (PULSES, WEIGHT, PER):
                self.setItem(row, col, QtWidgets.QTableWidgetItem(""))
        self.blockSignals(False)

    def text(self, row: int, col: int) -> str:
        item = self.item(row, col)
        return item.text().strip() if item is not None else ""

    def put(self, row: int, col: int, text: str) -> None:
        """Set a cell without the change signals (the dialog's own writes)."""
        item = self.item(row, col)
        if item is not None:
            self.blockSignals(True)
            item.setText(text)
            self.blockSignals(False)

    def open_s(self, row: int) -> float:
        text = self.text(row, OPEN)
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"row {row + 1}: open time {text!r} is not a number of s") from None
        if not 0 < value <= 1:
            raise ValueError(f"row {row + 1}: open time {value:g} s is not in (0, 1]")
        return value

    def rows(self, pulses: int) -> tuple[list[tuple[int, float, float]], list[str]]:
        """(row, open s, uL per opening) of every row with a weight (over the pulses given
        in the row, else ``pulses``), and each other row's problem (a weight that is not a
        number of mg, a pulse count that is not whole, an open time that is no time)."""
        points, problems = [], []
        for row in range(self.rowCount()):
            weight_text = self.text(row, WEIGHT)
            if not weight_text:
                continue
            try:
                weight = float(weight_text.replace(",", ""))  # 2,211 is 2211 mg
            except ValueError:
                weight = -1.0
            if not weight > 0:
                problems.append(f"row {row + 1}: weight {weight_text!r} is not a weight in mg")
                continue
            pulses_text = self.text(row, PULSES) or str(pulses)
            if not pulses_text.isdigit() or int(pulses_text) < 1:
                problems.append(f"row {row + 1}: pulses given {pulses_text!r} is not a count")
                continue
            try:
                points.append((row, self.open_s(row), weight / int(pulses_text)))
            except ValueError as exc:
                problems.append(str(exc))
        return points, problems
