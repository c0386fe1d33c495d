"""The session runner on the virtual device: queueing ahead, stopping, failures."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest

from rig.bus import Bus, DeviceEvents, TrialCompleted, TrialQueued
from rig.schema import HardwareConfig, Protocol, load_model
from rig.session.planner import TrialPlanner
from rig.session.recorder import SessionRecorder
from rig.session.runner import SessionError, SessionRunner
from rig.session.session import SessionRequest, run_session
from rig.sim.subject import new_brain, simulated_device


def _setup(root: Path, seed: int = 0) -> tuple[Protocol, HardwareConfig, TrialPlanner, Any]:
    protocol = load_model(root / "protocols/tactile_T1.yaml", Protocol)
    hardware = load_model(root / "hardware_configs/sim.yaml", HardwareConfig)
    rng = random.Random(seed)
    planner = TrialPlanner(protocol, hardware, rng)
    device = simulated_device(hardware, new_brain(protocol, hardware, random.Random(1)), rng)
    return protocol, hardware, planner, device


def test_next_trial_is_queued_before_the_current_one_ends(root: Path) -> None:
    _, hardware, planner, device = _setup(root)
    bus = Bus()
    log: list[tuple[str, int]] = []
    bus.subscribe(TrialQueued, lambda e: log.append(("queued", e.trial)))
    bus.subscribe(
        DeviceEvents,
        lambda b: log.extend(("end", e.trial) for e in b.events if e.kind == "trial_end"),
    )
    runner = SessionRunner(device, planner, bus, max_trials=20, volume_ul=hardware.delivered_ul)
    result = runner.run()
    assert result.trials_completed == 20
    for n in range(1, 20):
        assert log.index(("queued", n + 1)) < log.index(("end", n))
    assert ("queued", 21) not in log


def test_stop_request_ends_the_session_after_the_queued_trial(root: Path) -> None:
    _, hardware, planner, device = _setup(root)
    bus = Bus()
    runner = SessionRunner(device, planner, bus, max_trials=100, volume_ul=hardware.delivered_ul)
    completed: list[int] = []

    def on_trial(event: TrialCompleted) -> None:
        completed.append(event.record["trial"])
        if event.record["trial"] == 5:
            runner.request_stop()

    bus.subscribe(TrialCompleted, on_trial)
    result = runner.run()
    # trial 6 was already on the device when the stop came: it runs, nothing after it
    assert completed == [1, 2, 3, 4, 5, 6]
    assert result.stopped_early and result.trials_completed == 6


def test_recorder_failure_stops_the_session(root: Path, tmp_path: Path) -> None:
    protocol = load_model(root / "protocols/tactile_T1.yaml", Protocol)
    hardware = load_model(root / "hardware_configs/sim.yaml", HardwareConfig)

    def disk_full(bus: Bus) -> None:
        def fail(event: TrialCompleted) -> None:
            if event.record["trial"] == 3:
                raise OSError(28, "No space left on device")

        bus.subscribe(TrialCompleted, fail, critical=True)

    request = SessionRequest(protocol, hardware, "m", 50, 1, tmp_path)
    with pytest.raises(OSError, match="No space"):
        run_session(request, [disk_full])
    (session,) = (tmp_path / "m").glob("2*")
    meta = (session / "session.json").read_text()
    assert '"status": "crashed"' in meta
    assert len((session / "trials.jsonl").read_text().splitlines()) == 3


def test_device_going_quiet_mid_trial_is_an_error(root: Path) -> None:
    _, hardware, planner, _ = _setup(root)

    class QuietDevice:
        idle = False

        def queue(self, machine: object, trial: int) -> None:
            pass

        def poll(self) -> list[object]:
            return []

    runner = SessionRunner(
        QuietDevice(), planner, Bus(), max_trials=3, volume_ul=hardware.delivered_ul
    )  # type: ignore[arg-type]
    with pytest.raises(SessionError, match=r"went quiet with trial\(s\) \[1\]"):
        runner.run()


def test_fsync_each_trial_syncs_before_the_next_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    monkeypatch.setattr(os, "fdatasync", lambda fd: synced.append(fd))
    recorder = SessionRecorder(tmp_path / "s", {"subject": "m"}, fsync_each_trial=True)
    bus = Bus()
    recorder.attach(bus)
    for trial in (1, 2):
        bus.publish(TrialCompleted({"trial": trial}))
    assert len(synced) == 4  # events then trials, for each trial
    assert (tmp_path / "s" / "trials.jsonl").read_text() == '{"trial":1}\n{"trial":2}\n'


def test_short_writes_are_completed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The OS may write fewer bytes than asked without an error: the recorder goes on."""
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data[:5])))
    recorder = SessionRecorder(tmp_path / "s", {"subject": "m"}, fsync_each_trial=False)
    bus = Bus()
    recorder.attach(bus)
    bus.publish(TrialCompleted({"trial": 1, "outcome": "hit"}))
    assert (tmp_path / "s" / "trials.jsonl").read_text() == '{"trial":1,"outcome":"hit"}\n'


def test_a_failed_final_sync_still_records_the_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = SessionRecorder(tmp_path / "s", {"subject": "m"})
    real_fsync = os.fsync
    calls: list[int] = []

    def fsync(fd: int) -> None:  # the first sync (the events file) fails, later ones do not
        calls.append(fd)
        if len(calls) == 1:
            raise OSError(5, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError, match="Input/output"):
        recorder.finish("completed", {})
    meta = (tmp_path / "s" / "session.json").read_text()
    assert '"status": "crashed"' in meta and "sync at the end failed" in meta
