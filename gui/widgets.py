"""Small widgets the forms share."""

from __future__ import annotations

from PyQt6 import QtWidgets


def weight_box(name: str) -> QtWidgets.QDoubleSpinBox:
    """A mouse's weight in grams, to 0.1 g; 0 means not entered."""
    box = QtWidgets.QDoubleSpinBox()
    box.setObjectName(name)
    box.setRange(0.0, 100.0)
    box.setDecimals(1)
    box.setSuffix(" g")
    return box
