"""``python -m gui.screenshots [OUT_DIR]`` (``make screenshots``): the GUI, photographed.

On a real X server (``make screenshots`` runs it under Xvfb, Qt's xcb platform: the
pictures are read back from the server) or offscreen, against a real controller (in a
thread of this process) on the simulated rig, with a scratch data folder: a subject with
yesterday's session (so the launcher has a suggestion and a parameter that changed), the
live view mid-session (real simulated trials, stopped in the middle of one), the
calibration dialog after the simulated scale weighed each open time, the manual panel and
yesterday's end form.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PyQt6 import QtGui, QtWidgets

from gui.replay import simulated_messages
from rig.bus import SessionEnded, SessionStarted
from rig.control.client import ControllerClient
from rig.control.server import Controller

SHOTS = ("launcher.png", "live-view.png", "calibration.png", "manual.png", "end-form.png")


def _scratch(root: Path, scratch: Path) -> tuple[Path, Path, Path]:
    protocols = scratch / "protocols"
    shutil.copytree(root / "protocols", protocols)
    hardware = scratch / "sim.yaml"
    shutil.copy(root / "hardware_configs" / "sim.yaml", hardware)
    return protocols, hardware, scratch / "data"


def _save(widget: QtWidgets.QWidget, path: Path) -> None:
    """On a real X server (xcb) the picture is read back from the server, as the screen
    shows it; offscreen, Qt renders the widget."""
    app = QtWidgets.QApplication.instance()
    assert isinstance(app, QtWidgets.QApplication)
    widget.raise_()
    for _ in range(5):
        app.processEvents()
    screen = widget.screen()
    if app.platformName() == "xcb" and screen is not None:
        picture = screen.grabWindow(int(widget.winId()))
    else:
        picture = widget.grab()
    if not picture.save(str(path)):
        raise OSError(f"{path}: could not write the screenshot")


def take(out_dir: Path, root: Path = Path(".")) -> list[Path]:
    from gui.calibration import CalibrationDialog
    from gui.session_end import SessionEndDialog
    from gui.window import MainWindow

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setFont(QtGui.QFont("DejaVu Sans", 9))
    out_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="rig-shots-"))
    protocols, hardware, data = _scratch(root, scratch)
    # yesterday: 300 trials of the curriculum; today the reward volume was raised
    messages = simulated_messages(
        data,
        trials=300,
        subject="M042",
        protocol=protocols / "continual_learning.yaml",
        rig=hardware,
        weight_g=21.1,
    )
    text = (protocols / "continual_learning.yaml").read_text()
    (protocols / "continual_learning.yaml").write_text(
        text.replace("volume_ul: 2.5", "volume_ul: 2.8", 1)
    )
    controller = Controller(
        hardware, f"ipc://{scratch}/ctl", data_dir=data, protocols_dir=protocols, seed=1
    )
    thread = threading.Thread(target=controller.serve, daemon=True)
    thread.start()
    controller.ready.wait(10)
    client = ControllerClient(controller.endpoint)
    written = []
    try:
        window = MainWindow(client)
        window.ask_on_close = lambda: "leave"  # type: ignore[method-assign]
        window.resize(1500, 950)
        window.start()
        window.show()
        launcher = window.launcher
        launcher.subject.setCurrentText("M042")
        launcher.operator.setText("jk")
        launcher.weight.setValue(21.3)
        launcher.check_form()
        _save(window, out_dir / SHOTS[0])
        written.append(out_dir / SHOTS[0])

        # mid-session: every message up to the middle of trial 231
        cut = next(
            i
            for i, m in enumerate(messages)
            if m.type == "DeviceEvents"
            and any(e.trial == 231 and e.name == "DelayPeriod" for e in m.event.events)
        )
        window.bridge.stop()
        for m in messages[: cut + 1]:
            window.live.apply(m)
            window.on_message(m)
        window.live.status = "running"
        window.show_live()
        window.view.redraw(window.live, force=True)
        window.view.fields["link"].setText("ok")
        _save(window, out_dir / SHOTS[1])
        written.append(out_dir / SHOTS[1])

        dialog = CalibrationDialog(client, window)
        dialog.show()
        dialog.pulses.setValue(100)
        dialog.deliver_all()
        _save(dialog, out_dir / SHOTS[2])
        written.append(out_dir / SHOTS[2])
        dialog.close()

        manual = window.manual_panel()
        assert manual is not None
        _save(manual, out_dir / SHOTS[3])
        written.append(out_dir / SHOTS[3])
        manual.close()

        # yesterday's session as it ended: the end form with its supplement
        ended = next(m.event for m in reversed(messages) if isinstance(m.event, SessionEnded))
        started = next(m.event for m in messages if isinstance(m.event, SessionStarted))
        form = SessionEndDialog(client, ended, started.session_dir, window, info=started.info)
        form.show()
        _save(form, out_dir / SHOTS[4])
        written.append(out_dir / SHOTS[4])
        form.close()
        window.close()
    finally:
        client.request("shutdown")
        thread.join(30)
        client.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/screenshots")
    for path in take(target):
        print(path)
