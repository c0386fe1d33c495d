"""The task on the emulated Bpod, through the real serial client over a pty, in real time."""

from __future__ import annotations

import contextlib
import json
import random
import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rig.bus import Bus, DeviceEvents, TrialCompleted
from rig.devices.bpod import PROFILES
from rig.devices.bpod.client import BpodClient, DeviceLost
from rig.devices.bpod.device import BpodDevice
from rig.schema import HardwareConfig, Protocol, load_model
from rig.session.planner import TrialPlanner
from rig.session.runner import SessionRunner
from rig.sim.bpod.firmware import BpodFirmware
from rig.sim.bpod.server import BpodServer
from rig.sim.bpod.world import BpodWorld
from rig.sim.mouse import Mouse
from rig.sim.subject import new_brain
from rig.transport.serial_port import SerialTransport
from tests.contract.test_bpod_emulator import WIRING
from tests.integration.test_realtime import SHORT
from tests.integration.test_session import check_trial_against_events

pytestmark = pytest.mark.realtime


@pytest.fixture
def short_protocol(tmp_path: Path) -> Protocol:
    (tmp_path / "short.yaml").write_text(SHORT)
    return load_model(tmp_path / "short.yaml", Protocol)


@pytest.fixture
def hardware(root: Path) -> HardwareConfig:
    return load_model(root / "hardware_configs/sim.yaml", HardwareConfig)


@contextlib.contextmanager
def serve(profile: str, protocol: Protocol, hardware: HardwareConfig) -> Iterator[BpodServer]:
    server = BpodServer(PROFILES[profile])
    mouse = Mouse(new_brain(protocol, hardware, random.Random(1)), random.Random(2))
    world = BpodWorld(server.firmware, mouse, WIRING, hardware.delivered_ul)
    server.on_cycle = world.on_cycle
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop()
        thread.join(5)
        server.close()


@pytest.mark.parametrize("profile", ["r2-fw22", "r2-fw23", "2plus-fw23"])
def test_trials_back_to_back_on_the_emulated_bpod(
    profile: str, short_protocol: Protocol, hardware: HardwareConfig
) -> None:
    with serve(profile, short_protocol, hardware) as server:
        client = BpodClient(SerialTransport(server.ports[1]))
        hw = client.connect(inputs=["Port1", "Port2"])
        assert (hw.firmware, hw.machine_type) == (
            PROFILES[profile].firmware,
            PROFILES[profile].machine_type,
        )
        device = BpodDevice(client, hw, WIRING)
        bus = Bus()
        records: list[dict[str, Any]] = []
        events: dict[int, list[dict[str, Any]]] = defaultdict(list)
        bus.subscribe(TrialCompleted, lambda e: records.append(e.record))

        def collect(batch: DeviceEvents) -> None:
            for e in batch.events:
                line = {"kind": e.kind, "name": e.name, "t": e.t, "value": e.value}
                events[e.trial].append(line)

        bus.subscribe(DeviceEvents, collect)
        planner = TrialPlanner(short_protocol, hardware, random.Random(3))
        runner = SessionRunner(device, planner, bus, max_trials=6, volume_ul=hardware.delivered_ul)
        result = runner.run()
        client.disconnect()
        assert result.trials_completed == 6
        assert device.disagreements == []
        assert {r["dead_time_ms"] for r in records[1:]} == {0.1}  # one cycle, every time
        for record in records:
            check_trial_against_events(record, events[record["trial"]], short_protocol, hardware)
        assert sum(r["outcome"] != "no_response" for r in records) >= 3  # the mouse licked


def test_closing_the_emulator_mid_trial_is_reported_within_half_a_second(
    short_protocol: Protocol, hardware: HardwareConfig
) -> None:
    import time

    with serve("r2-fw23", short_protocol, hardware) as server:
        client = BpodClient(SerialTransport(server.ports[1]))
        hw = client.connect(inputs=["Port1", "Port2"])
        device = BpodDevice(client, hw, WIRING)
        planner = TrialPlanner(short_protocol, hardware, random.Random(3))
        plan = planner.next_trial(1)
        device.queue(plan.machine, 1)
        seen = device.poll()
        assert seen[0].kind == "trial_start"
        server.stop()
        time.sleep(0.05)
        server.close()
        closed = time.monotonic()
        with pytest.raises(DeviceLost):
            while True:
                device.poll()
        assert time.monotonic() - closed < 0.5


def test_rig_run_on_the_bpod_emulator_config(root: Path, tmp_path: Path) -> None:
    """The README's command: ``rig run --rig hardware_configs/bpod-emulator.yaml ...``."""
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "rig.cli", "run", "--rig", "hardware_configs/bpod-emulator.yaml",
         "--protocol", "tests/data/short_trials.yaml", "--subject", "b1", "--trials", "4",
         "--seed", "5", "--data-dir", str(tmp_path)],
        cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (session,) = (tmp_path / "b1").glob("2*")
    meta = json.loads((session / "session.json").read_text())
    assert meta["status"] == "completed" and meta["virtual_time"] is False
    records = [json.loads(x) for x in (session / "trials.jsonl").read_text().splitlines()]
    assert [r["trial"] for r in records] == [1, 2, 3, 4]
    assert {r["dead_time_ms"] for r in records[1:]} == {0.1}
    events = [json.loads(x) for x in (session / "events.jsonl").read_text().splitlines()]
    assert all("host_t" in e for e in events)  # host receive times beside device times


def test_garbage_in_the_live_stream_is_reported_and_nothing_is_lost(
    short_protocol: Protocol, hardware: HardwareConfig
) -> None:
    with serve("r2-fw23", short_protocol, hardware) as server:
        world_cycle = server.on_cycle
        injected = {"bytes": 0}

        def with_garbage(fw: BpodFirmware) -> None:
            assert world_cycle is not None
            world_cycle(fw)
            # between two frames of a trial under way (not inside a start sequence)
            if fw.trial_cycle and fw.cycle % 700 == 0:
                fw._out[1] += b"\x99\x00\xee"
                injected["bytes"] += 3

        server.on_cycle = with_garbage
        client = BpodClient(SerialTransport(server.ports[1]))
        hw = client.connect(inputs=["Port1", "Port2"])
        device = BpodDevice(client, hw, WIRING)
        bus = Bus()
        records: list[dict[str, Any]] = []
        bus.subscribe(TrialCompleted, lambda e: records.append(e.record))
        planner = TrialPlanner(short_protocol, hardware, random.Random(4))
        SessionRunner(device, planner, bus, max_trials=4, volume_ul=hardware.delivered_ul).run()
        client.disconnect()
    assert injected["bytes"] > 0
    assert device.garbage > 0  # reported, with offsets, by the decoder
    assert [r["trial"] for r in records] == [1, 2, 3, 4]
    assert device.disagreements == []


@pytest.mark.parametrize("abort_at", ["SamplePeriod", "decision"])
def test_operator_abort_and_hand_drop_on_the_emulated_bpod(
    abort_at: str, short_protocol: Protocol, hardware: HardwareConfig
) -> None:
    """A hand drop runs as trial 0 between trials; abort ends the running trial with 'X'."""
    from rig.bus import TrialAborted
    from rig.session.operator import Inbox, check_command
    from rig.task.builder import DECISIONS

    with serve("r2-fw23", short_protocol, hardware) as server:
        client = BpodClient(SerialTransport(server.ports[1]))
        hw = client.connect(inputs=["Port1", "Port2"])
        device = BpodDevice(client, hw, WIRING)
        bus, inbox = Bus(), Inbox()
        events: list[Any] = []
        aborted: list[TrialAborted] = []
        bus.subscribe(TrialAborted, aborted.append)

        def steer(batch: DeviceEvents) -> None:
            events.extend(batch.events)
            for e in batch.events:
                if (e.trial, e.kind) == (1, "trial_start"):
                    inbox.put(check_command("drop", {"side": "left"}))
                at = e.name in DECISIONS if abort_at == "decision" else e.name == abort_at
                if (e.trial, e.kind) == (3, "state") and at:
                    inbox.put(check_command("abort", {}))

        bus.subscribe(DeviceEvents, steer)
        planner = TrialPlanner(short_protocol, hardware, random.Random(3))
        runner = SessionRunner(device, planner, bus, max_trials=10,
                               volume_ul=hardware.delivered_ul, inbox=inbox)  # fmt: skip
        result = runner.run()
        client.disconnect()
    assert result.aborted and device.disagreements == []
    if abort_at == "decision":  # trial 3 is recorded; trial 4, queued, never starts
        assert result.trials_completed == 3
        assert [(a.trial, a.t) for a in aborted] == [(4, None)]
        assert not [e for e in events if e.trial > 3]
        return
    assert result.trials_completed == 2
    assert [a.trial for a in aborted] == [3]
    drop = [(e.name, e.value, e.t) for e in events if e.trial == 0 and e.kind == "output"]
    assert [(n, v) for n, v, _ in drop] == [("valve_left", 1), ("valve_left", 0)]
    assert drop[1][2] - drop[0][2] == pytest.approx(
        round(hardware.valve("left").open_time_s(short_protocol.reward.volume_ul), 4), abs=1e-4
    )
    trial3 = [e for e in events if e.trial == 3]
    assert trial3[-1].kind == "trial_end"
    assert "DelayPeriod" not in [e.name for e in trial3 if e.kind == "state"]
    assert not [e for e in events if e.trial > 3]
