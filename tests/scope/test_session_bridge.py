"""A real-time session talking to `rig scope-bridge`'s code: trial messages reach the
bridge's log; stopping the bridge mid-session raises the alarm within about a second; a
restart reconnects; the gap is recorded. Without a bridge, a rig that requires one refuses."""

from __future__ import annotations

import json
import tempfile
import threading
import time
from pathlib import Path

import pytest

from rig.bus import Bus, ScopeAlarm
from rig.schema import HardwareConfig, Protocol, load_model
from rig.session.session import SessionRequest, run_session
from rig.sync.backends import FakeBackend
from rig.sync.bridge import Bridge

pytestmark = [pytest.mark.realtime, pytest.mark.slow]


def _hardware(root: Path, ep: str, required: bool = True) -> HardwareConfig:
    data = load_model(root / "hardware_configs/sim.yaml", HardwareConfig).model_dump(mode="json")
    data["scope"] = {"kind": "bridge", "endpoint": ep}
    data["require_scope"] = required
    return HardwareConfig.model_validate(data)


def _serve(ep: str, log: Path) -> tuple[Bridge, threading.Thread]:
    bridge = Bridge(ep, FakeBackend(), log)
    thread = threading.Thread(target=bridge.serve, daemon=True)
    thread.start()
    return bridge, thread


def test_the_alarm_and_the_gap(root: Path, tmp_path: Path) -> None:
    ep = f"ipc://{tempfile.mkdtemp(prefix='rig-sb-')}/bridge"
    log = tmp_path / "bridge.jsonl"
    bridge, thread = _serve(ep, log)
    protocol = load_model(root / "protocols/tactile_T1.yaml", Protocol)
    request = SessionRequest(protocol, _hardware(root, ep), "b1", 12, 2, tmp_path / "data",
                             realtime=True, speed=4.0)  # fmt: skip
    alarms: list[tuple[ScopeAlarm, float]] = []
    trials = threading.Event()

    def observe(bus: Bus) -> None:
        bus.subscribe(ScopeAlarm, lambda a: alarms.append((a, time.monotonic())))

    outcome: list[object] = []
    session = threading.Thread(target=lambda: outcome.append(
        run_session(request, observers=[observe])))  # fmt: skip
    session.start()
    while not log.exists() or log.read_text().count('"TrialStart"') < 2:
        assert session.is_alive()
        trials.wait(0.05)
    bridge.stop()
    thread.join(5)
    stopped = time.monotonic()
    while not alarms:
        assert time.monotonic() - stopped < 5, "no alarm"
        trials.wait(0.05)
    assert alarms[0][0].connected is False
    assert alarms[0][1] - stopped < 3.0  # noticed after 1 s of silence; shown at the next event
    bridge, thread = _serve(ep, log)  # the microscope PC is back
    session.join(120)
    bridge.stop()
    thread.join(5)
    meta = json.loads((outcome[0].session_dir / "session.json").read_text())  # type: ignore[attr-defined]
    (gap,) = meta["scope"]["gaps"]
    assert gap["back_at_s"] is not None and 0.5 < gap["back_at_s"] - gap["silent_from_s"] < 60
    assert 0.9 <= gap["noticed_at_s"] - gap["silent_from_s"] < 2.0  # lost after 1 s of silence
    assert [a.connected for a, _ in alarms] == [False, True]
    logged = [json.loads(x) for x in log.read_text().splitlines()]
    uids = [e["body"]["uid"] for e in logged if e.get("type") == "TrialStart"]
    assert len(uids) == len(set(uids)) >= 2


def test_a_rig_that_requires_the_bridge_refuses_to_start_without_it(
    root: Path, tmp_path: Path
) -> None:
    ep = f"ipc://{tempfile.mkdtemp(prefix='rig-sb-')}/nobody"
    protocol = load_model(root / "protocols/tactile_T1.yaml", Protocol)
    request = SessionRequest(protocol, _hardware(root, ep), "b2", 3, 1, tmp_path / "data")
    with pytest.raises(ValueError, match="did not answer within 3 s, and this rig requires it"):
        run_session(request)
    assert not (tmp_path / "data" / "b2").exists() or not [
        p for p in (tmp_path / "data" / "b2").iterdir() if p.is_dir()
    ]
