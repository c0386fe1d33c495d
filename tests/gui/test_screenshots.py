"""``make screenshots``: the launcher, the live view mid-session, the calibration dialog,
the manual panel and the end form, photographed (offscreen, and on Xvfb in make test's
gui-x11 pass); none of them blank."""

from __future__ import annotations

from pathlib import Path

import pytest
from PyQt6 import QtGui

from gui.screenshots import SHOTS, take

pytestmark = [pytest.mark.realtime]


def colours(path: Path) -> int:
    image = QtGui.QImage(str(path))
    assert not image.isNull(), path
    seen = set()
    for y in range(0, image.height(), 7):
        for x in range(0, image.width(), 7):
            seen.add(image.pixel(x, y))
    return len(seen)


def test_screenshots_are_taken_and_not_blank(qapp: object, root: Path, tmp_path: Path) -> None:
    written = take(tmp_path, root)
    assert [p.name for p in written] == list(SHOTS)
    for path in written:
        image = QtGui.QImage(str(path))
        big = path.name in ("launcher.png", "live-view.png")  # the window; else a dialog
        assert image.width() >= (900 if big else 400), path
        assert image.height() >= (500 if big else 300), path
        assert colours(path) >= 12, f"{path.name} looks blank"
