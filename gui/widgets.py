"""Small widgets the forms share."""

from __future__ import annotations

import math

from PyQt6 import QtWidgets

# A mouse's weight, in grams: anything outside is a typo (250 for 25.0) or another animal.
MIN_WEIGHT_G = 10.0
MAX_WEIGHT_G = 60.0


class WeightEntry(QtWidgets.QLineEdit):
    """A mouse's weight in grams, taken as typed: never rounded, never cut to fit. A value
    outside :data:`MIN_WEIGHT_G`-:data:`MAX_WEIGHT_G` is refused with a message saying the
    range (:meth:`problem`); empty means not entered. ``21,5`` is read as 21.5."""

    def __init__(self, name: str, what: str = "weight") -> None:
        super().__init__()
        self.what = what  # the field's name in messages: "weight", "weight after"
        self.setObjectName(name)
        self.setPlaceholderText(f"grams, {MIN_WEIGHT_G:g}-{MAX_WEIGHT_G:g}")
        self.setMaximumWidth(160)
        self.textChanged.connect(lambda _: self._mark())

    def _number(self) -> float | None:
        text = self.text().strip().replace(",", ".").removesuffix("g").strip()
        try:
            number = float(text)
        except ValueError:
            return None
        return number if math.isfinite(number) else None

    def problem(self) -> str:
        """Why the typed text is not a weight ("" when it is one, or when nothing is typed)."""
        text = self.text().strip()
        if not text:
            return ""
        number = self._number()
        if number is None:
            return f"{self.what}: {text!r} is not a number of grams"
        if not MIN_WEIGHT_G <= number <= MAX_WEIGHT_G:
            return (
                f"{self.what}: {number:g} g is outside {MIN_WEIGHT_G:g}-{MAX_WEIGHT_G:g} g, "
                "a mouse's weight; type it again"
            )
        return ""

    def value(self) -> float | None:
        """The weight in grams, if one in the range is typed; else None."""
        return None if self.problem() else self._number()

    def setValue(self, grams: float) -> None:  # Qt's spelling, as the spin boxes'
        self.setText(f"{grams:g}")

    def _mark(self) -> None:
        self.setStyleSheet("border: 2px solid #b00020;" if self.problem() else "")
        self.setToolTip(self.problem())


def ask_yes_no(parent: QtWidgets.QWidget, title: str, text: str) -> bool:
    """Yes or no from the operator, No the default (a modal dialog: the forms' ``ask``
    methods call it, and tests replace those methods)."""
    buttons = QtWidgets.QMessageBox.StandardButton
    box = QtWidgets.QMessageBox
    answer = box.question(parent, title, text, buttons.Yes | buttons.No, buttons.No)
    return answer == buttons.Yes
