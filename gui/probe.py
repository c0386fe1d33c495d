"""The real main window in a process of its own, attached to a controller, offscreen.

``python -m gui.probe ENDPOINT REPORT.json``: prints ``ready`` once attached,
runs until the session ends (then half a second more), and writes what it received and
drew: the message numbers, the trials shown, the redraw times and the event-to-screen
latencies. The freeze test stops and continues this process with signals; the GUI
benchmark reads its event-to-screen latencies.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PyQt6 import QtCore, QtWidgets

from gui.window import MainWindow
from rig.control.client import ControllerClient


def main(endpoint: str, report: str) -> int:
    app = QtWidgets.QApplication(sys.argv[:1])
    client = ControllerClient(endpoint)
    window = MainWindow(client)
    window.ask_on_close = lambda: "leave"  # type: ignore[method-assign]
    seqs: list[int] = []
    window.bridge.message.connect(lambda m: seqs.append(m.seq))
    window.bridge.session_ended.connect(lambda _: QtCore.QTimer.singleShot(500, app.quit))
    window.start()
    window.show()
    print("ready", flush=True)
    app.exec()
    data = {
        "seqs": seqs,
        "trials": window.live.trials,
        "recovered": window.stream.recovered,
        "errors": window.stream.errors,
        "redraw_s": window.view.redraw_s,
        "latency_s": window.bridge.latencies_s,
        "ended": window.live.ended is not None,
    }
    window.close()
    with open(report, "w") as f:
        json.dump(data, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2]))
