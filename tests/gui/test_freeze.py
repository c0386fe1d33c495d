"""Freezing the GUI process mid-session (SIGSTOP for 5 s, then SIGCONT) costs the session
nothing: the controller keeps the trials' timing, every event still reaches the GUI, and
the GUI catches up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rig.control.client import ControllerClient, EventStream
from tests.gui.conftest import start_controller, stop_controller

pytestmark = [pytest.mark.realtime, pytest.mark.slow]
FREEZE_S = 5.0


def wait_for(stream: EventStream, seen: list[object], until: float, predicate: object) -> None:
    """Collect the stream's messages until ``predicate(seen)`` holds, or fail at ``until``."""
    while not predicate(seen):  # type: ignore[operator]
        assert time.monotonic() < until, "the session did not get there in time"
        stream.wakeup.wait(0.5)
        seen += stream.take()


def start_session(
    client: ControllerClient, probe: subprocess.Popen[bytes], subject: str, trials: int
) -> tuple[EventStream, list[object], float]:
    """Once the probe GUI is attached: a session of ``trials`` T1 trials, watched by the
    test's own event stream, until two trials completed; (stream, seen, deadline)."""
    assert probe.stdout is not None and probe.stdout.readline().strip() == b"ready"
    stream = EventStream(client)  # the test's own view of what the controller published
    client.request("create_subject", subject=subject)
    client.request("start", subject=subject, protocol="tactile_T1.yaml", trials=trials,
                   operator="test", weight_g=20.0)  # fmt: skip
    seen: list[object] = []
    deadline = time.monotonic() + 120
    wait_for(stream, seen, deadline, lambda s: completed(s) >= 2)
    return stream, seen, deadline


def completed(seen: list[object]) -> int:
    return sum(getattr(m, "type", "") == "TrialCompleted" for m in seen)


def test_a_frozen_gui_loses_nothing_and_slows_nothing(root: Path, tmp_path: Path) -> None:
    running = start_controller(root, tmp_path, speed=5.0)
    report = tmp_path / "probe.json"
    client = ControllerClient(running.endpoint)
    probe = subprocess.Popen(
        [sys.executable, "-m", "gui.probe", running.endpoint, str(report)],
        stdout=subprocess.PIPE, cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )  # fmt: skip
    try:
        stream, seen, deadline = start_session(client, probe, "F1", 12)
        probe.send_signal(signal.SIGSTOP)
        frozen_at, before = time.monotonic(), completed(seen)
        wait_for(stream, seen, deadline, lambda s: time.monotonic() - frozen_at >= FREEZE_S)
        probe.send_signal(signal.SIGCONT)
        assert completed(seen) > before, "trials went on while the GUI was frozen"
        wait_for(stream, seen, deadline, lambda s: any(m.type == "SessionEnded" for m in s))
        assert probe.wait(60) == 0
    finally:
        if probe.poll() is None:
            probe.send_signal(signal.SIGCONT)
            probe.kill()
        client.close()
        stop_controller(running)

    got = json.loads(report.read_text())
    published = [m.seq for m in seen]
    assert got["seqs"] == published  # every message, in order, none twice
    assert got["ended"] and got["trials"] == 12 and not got["errors"]
    # the controller's timing did not notice: events were published as the device made
    # them (host time within 0.25 s of device time, at 5x: 50 ms of wall time), all along
    lags = [
        e.host_t - e.t
        for m in seen
        if m.type == "DeviceEvents"
        for e in m.event.events
        if e.host_t is not None
    ]
    assert lags and max(lags) < 0.25, max(lags)
    (session,) = (p for p in (running.data_dir / "F1").iterdir() if p.is_dir())
    records = [json.loads(x) for x in (session / "trials.jsonl").read_text().splitlines()]
    assert len(records) == 12
    assert all(r["dead_time_ms"] == 0.1 for r in records[1:])


def test_a_killed_gui_costs_the_session_nothing_and_a_new_one_gets_it_all(
    root: Path, tmp_path: Path
) -> None:
    """The GUI process SIGKILLed mid-session: the trials go on, the files are complete, and
    a GUI started afterwards receives the whole session, in order, from its first message."""
    running = start_controller(root, tmp_path, speed=5.0)
    client = ControllerClient(running.endpoint)
    probe = subprocess.Popen(
        [sys.executable, "-m", "gui.probe", running.endpoint, str(tmp_path / "first.json")],
        stdout=subprocess.PIPE, cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
    )  # fmt: skip
    try:
        stream, seen, deadline = start_session(client, probe, "K1", 6)
        probe.kill()
        assert probe.wait(10) == -signal.SIGKILL
        wait_for(stream, seen, deadline, lambda s: any(m.type == "SessionEnded" for m in s))
        second = tmp_path / "second.json"
        late = subprocess.run(
            [sys.executable, "-m", "gui.probe", running.endpoint, str(second)],
            capture_output=True, cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
            timeout=60,
        )  # fmt: skip
        assert late.returncode == 0
    finally:
        if probe.poll() is None:
            probe.kill()
        client.close()
        stop_controller(running)
    got = json.loads(second.read_text())
    assert got["seqs"] == [m.seq for m in seen] and got["trials"] == 6 and got["ended"]
    (session,) = (p for p in (running.data_dir / "K1").iterdir() if p.is_dir())
    assert len((session / "trials.jsonl").read_text().splitlines()) == 6
    assert json.loads((session / "session.json").read_text())["status"] == "completed"
