"""The calibration dialog against a real controller: pulses, weights, fit, save, spot check."""

from __future__ import annotations

import datetime as dt

import pytest
from pytestqt.qtbot import QtBot

from gui.calibration import CalibrationDialog
from gui.launcher import Launcher
from rig.control.client import ControllerClient
from rig.schema import HardwareConfig, load_model
from tests.gui.conftest import RunningController

pytestmark = [pytest.mark.realtime]


def test_calibrate_save_and_spot_check(qtbot: QtBot, controller: RunningController) -> None:
    client = ControllerClient(controller.endpoint)
    dialog = CalibrationDialog(client)
    qtbot.addWidget(dialog)
    dialog.valve.setCurrentText("valve_right")
    dialog.pulses.setValue(50)
    dialog.deliver_all()  # the simulated scale fills the weights in
    points = dialog.measured()
    assert [x for x, _ in points] == [0.01, 0.02, 0.04, 0.08]
    old = load_model(controller.hardware, HardwareConfig).valves["valve_right"]
    for x, per in points:  # the simulated valve delivers what its calibration says, +-2 %
        assert per == pytest.approx(old.volume_ul(x), rel=0.1)
    assert "fit:" in dialog.message.text()
    # the technician's own weights, then save: dated today, in the rig's file
    for row, weight in enumerate(("40", "90", "185", "380")):
        dialog.table.item(row, 1).setText(weight)
    dialog.save()
    assert "saved 4 points" in dialog.message.text()
    cal = load_model(controller.hardware, HardwareConfig).valves["valve_right"]
    assert cal.date == dt.date.today()
    assert [(p.open_s, p.volume_ul) for p in cal.points] == [
        (0.01, 0.8), (0.02, 1.8), (0.04, 3.7), (0.08, 7.6)
    ]  # fmt: skip
    # a spot check 20 % high is warned about, here and at the next launch
    open_s = dialog.reward_open_s()
    dialog.spot_weight.setValue(50 * cal.volume_ul(open_s) * 1.2)
    dialog.spot_check()
    assert "RECALIBRATE" in dialog.message.text()
    launcher = Launcher(client)
    qtbot.addWidget(launcher)
    launcher.load()
    assert "valve_right's spot check" in launcher.warnings.text()
    client.close()
