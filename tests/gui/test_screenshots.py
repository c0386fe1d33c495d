"""``make screenshots``: the launcher, the live view mid-session and the calibration
dialog, photographed offscreen; none of them blank."""

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
        assert image.width() >= 900 and image.height() >= 500, path
        assert colours(path) >= 12, f"{path.name} looks blank"
