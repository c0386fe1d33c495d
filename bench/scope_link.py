"""Rig -> bridge message latency over tcp loopback, and the sustained message rate.

``rig scope-bridge`` runs as its own process (fake backend); the rig's ``ScopeLink``
sends ``StatusRequest``s one at a time and times each round trip (half of it is the
one-way latency; the figure reported is the round trip, which needs no shared clock),
then sends ``TrialStart`` messages as fast as it can for 3 s and counts what the bridge's
log received.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from rig.sync.link import ScopeLink
from rig.sync.messages import StatusRequest, TrialStart

ROUNDS = 2000
BURST_S = 3.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "bridge.jsonl"
        ep = f"tcp://127.0.0.1:{_free_port()}"
        bridge = subprocess.Popen(
            [sys.executable, "-m", "rig.cli", "scope-bridge", "--bind", ep, "--log", str(log)],
            stdout=subprocess.PIPE,
        )
        assert bridge.stdout is not None
        bridge.stdout.readline()
        link = ScopeLink(ep)
        try:
            ready = threading.Event()
            for _ in range(250):
                if link.connected:
                    break
                ready.wait(0.02)
            rtt = []
            for _ in range(ROUNDS):
                t0 = time.perf_counter()
                link.request(lambda i: StatusRequest(id=i))
                rtt.append(time.perf_counter() - t0)
            sent, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < BURST_S:
                link.send(TrialStart(trial=sent, uid=f"b/{sent}", context="T1",
                                     instructed="left", device_t=sent * 0.001))  # fmt: skip
                sent += 1
            link.request(lambda i: StatusRequest(id=i), timeout_s=60)  # after the burst
            elapsed = time.perf_counter() - t0
        finally:
            link.close()
            bridge.terminate()
            bridge.wait(10)
        logged = sum(1 for line in log.open() if '"TrialStart"' in line)
        refused = sum(1 for line in log.open() if json.loads(line).get("refused"))
    ms = np.asarray(rtt) * 1000
    return {
        "transport": "tcp loopback, bridge in its own process",
        "round_trip_p50_ms": round(float(np.percentile(ms, 50)), 3),
        "round_trip_p99_ms": round(float(np.percentile(ms, 99)), 3),
        "round_trip_max_ms": round(float(ms.max()), 3),
        "burst_sent": sent,
        "burst_logged_by_bridge": logged,
        "sustained_msgs_per_s": round(logged / elapsed),
        "refused": refused,
    }
