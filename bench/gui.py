"""The live view's redraw time and the event-to-screen latency, offscreen.

- Redraw: the messages of a 2,000-trial simulated session (virtual time) fill a
  :class:`LiveSession`; the :class:`LiveView` (1,500 x 950 px, the main window's size, with
  its status column) replaces every plot's data and Qt paints it (``processEvents``), 300
  times. Reported: p50, p95 and max of one such full redraw (what happens once per
  trial), and of a status-only redraw (a state change inside a trial: only labels change).
  Offscreen Qt paints with the CPU raster engine, as a desktop without GPU would.
- Event-to-screen latency: ``rig serve`` runs a session of ``tactile_T1`` on the
  simulated rig at 4x real time; the real main window runs in a process of its own
  (``python -m gui.probe``, offscreen) and records, for every device event, the time from
  the controller publishing it (``time.monotonic`` at the bus, one clock on one machine)
  to the end of the repaint that showed it. Reported: p50, p95, max over every event.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TRIALS = 2000
REDRAWS = 300
LATENCY_TRIALS = 30
SPEED = 4.0


def _percentiles(values_s: list[float]) -> dict[str, float]:
    ms = np.asarray(values_s) * 1000
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "max_ms": round(float(ms.max()), 2),
        "n": len(ms),
    }


def redraw() -> dict[str, Any]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6 import QtWidgets

    from gui.livedata import LiveSession
    from gui.liveview import LiveView
    from gui.replay import simulated_messages

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        messages = simulated_messages(Path(tmp), trials=TRIALS, seed=3)
    live = LiveSession()
    for m in messages:
        live.apply(m)
    licks = sum(r.x.n for r in live.raster.values())
    view = LiveView()
    view.resize(1500, 950)
    view.show()
    for _ in range(5):
        app.processEvents()
    full, status = [], []
    for i in range(REDRAWS + 10):
        t0 = time.perf_counter()
        view.redraw(live, force=True)
        app.processEvents()
        if i >= 10:  # warm-up
            full.append(time.perf_counter() - t0)
    for i in range(REDRAWS):
        live.state = "DelayPeriod" if i % 2 else "SamplePeriod"
        t0 = time.perf_counter()
        view.fields["state"].setText(live.state)
        view.redraw(live)  # nothing new for the plots: labels only
        app.processEvents()
        status.append(time.perf_counter() - t0)
    view.close()
    return {
        "trials": live.trials,
        "licks": licks,
        "full_redraw": _percentiles(full),
        "status_redraw": _percentiles(status),
        "target_p95_ms": 16.0,
    }


def latency() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        hardware = scratch / "sim.yaml"
        shutil.copy(ROOT / "hardware_configs/sim.yaml", hardware)
        endpoint = f"ipc://{scratch}/ctl"
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
        controller = subprocess.Popen(
            [sys.executable, "-m", "rig.cli", "serve", "--rig", str(hardware),
             "--endpoint", endpoint, "--data-dir", str(scratch / "data"),
             "--protocols", str(ROOT / "protocols"), "--speed", str(SPEED), "--seed", "4"],
            env=env, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        report = scratch / "probe.json"
        probe = subprocess.Popen(
            [sys.executable, "-m", "gui.probe", endpoint, str(report)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        from rig.control.client import ControllerClient

        client = ControllerClient(endpoint, timeout_s=30)
        try:
            assert probe.stdout is not None and probe.stdout.readline().strip() == b"ready"
            client.request("create_subject", subject="bench")
            client.request("start", subject="bench", protocol="tactile_T1.yaml",
                           trials=LATENCY_TRIALS, operator="bench", weight_g=20.0)  # fmt: skip
            probe.wait(60 + LATENCY_TRIALS * 12 / SPEED)
        finally:
            client.request("shutdown")
            controller.wait(30)
            client.close()
        got = json.loads(report.read_text())
    return {
        "trials": got["trials"],
        "speed": SPEED,
        "event_to_screen": _percentiles(got["latency_s"]),
        "gui_redraws": len(got["redraw_s"]),
        "gui_redraw_in_session": _percentiles(got["redraw_s"]),
        "messages": len(got["seqs"]),
        "recovered_from_history": got["recovered"],
    }


def run() -> dict[str, Any]:
    return {"redraw": redraw(), "latency": latency()}
