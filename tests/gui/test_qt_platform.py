"""Qt works on this machine on the platform asked for: offscreen in the first pass of
``make test``, Qt's xcb platform on a real X server (Xvfb) in its ``gui-x11`` pass."""

from __future__ import annotations

import os

from PyQt6 import QtWidgets
from PyQt6.QtGui import QColor


def test_the_platform_is_the_one_asked_for(qapp: QtWidgets.QApplication) -> None:
    assert qapp.platformName() == os.environ["QT_QPA_PLATFORM"]


def test_a_widget_renders(qapp: object) -> None:
    label = QtWidgets.QLabel("rig")
    label.resize(80, 30)
    label.setStyleSheet("background: rgb(0, 128, 255); color: white;")
    image = label.grab().toImage()
    assert (image.width(), image.height()) == (80, 30)
    assert image.pixelColor(1, 1) == QColor(0, 128, 255)
