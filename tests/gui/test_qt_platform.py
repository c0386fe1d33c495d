"""Qt works on this machine, offscreen: the system libraries the Makefile installs suffice.

The GUI itself is a later issue; this keeps the platform part of it honest from now on.
"""

from __future__ import annotations

from PyQt6 import QtWidgets
from PyQt6.QtGui import QColor


def test_a_widget_renders_offscreen(qapp: object) -> None:
    label = QtWidgets.QLabel("rig")
    label.resize(80, 30)
    label.setStyleSheet("background: rgb(0, 128, 255); color: white;")
    image = label.grab().toImage()
    assert (image.width(), image.height()) == (80, 30)
    assert image.pixelColor(1, 1) == QColor(0, 128, 255)
