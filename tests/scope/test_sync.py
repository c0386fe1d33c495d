"""The rig <-> microscope link over real ZeroMQ sockets: handshake, heartbeats, requests,
the alarm when the bridge stops, reconnection, bad messages, CURVE."""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq

from rig.sync.backends import FakeBackend, FileDropBackend
from rig.sync.bridge import Bridge
from rig.sync.link import ScopeLink
from rig.sync.messages import (
    MAX_BYTES,
    Arm,
    BadMessage,
    StartAcquisition,
    Status,
    StatusRequest,
    StopAcquisition,
    TrialStart,
    decode,
    encode,
)

pytestmark = [pytest.mark.realtime]


def endpoint() -> str:
    return f"ipc://{tempfile.mkdtemp(prefix='rig-sync-')}/bridge"


def start_bridge(ep: str, log: Path, **kw: object) -> tuple[Bridge, threading.Thread]:
    bridge = Bridge(ep, kw.pop("backend", FakeBackend()), log, **kw)  # type: ignore[arg-type]
    thread = threading.Thread(target=bridge.serve, daemon=True)
    thread.start()
    return bridge, thread


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Bridge, ScopeLink, str]]:
    ep = endpoint()
    bridge, thread = start_bridge(ep, tmp_path / "bridge.jsonl")
    link = ScopeLink(ep)
    yield bridge, link, ep
    link.close()
    bridge.stop()
    thread.join(5)


def wait(condition: object, timeout: float = 5.0) -> bool:
    event = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if condition():  # type: ignore[operator]
            return True
        event.wait(0.02)
    return False


def test_messages_are_checked() -> None:
    msg = TrialStart(trial=3, uid="s/3", context="T1", instructed="left", device_t=1.5)
    assert decode(encode(msg)) == msg
    for frames, why in [
        ([b"TrialStart"], "1 frames"),
        ([b"Nope", b"{}"], "unknown message type"),
        ([b"TrialStart", b"{bad"], "TrialStart:"),
        ([b"TrialStart", b'{"trial": "x"}'], "trial"),
        ([b"Heartbeat", b"x" * MAX_BYTES], "more than"),
    ]:
        with pytest.raises(BadMessage, match=why):
            decode(frames)


def test_handshake_requests_and_the_log(
    pair: tuple[Bridge, ScopeLink, str], tmp_path: Path
) -> None:
    bridge, link, _ = pair
    assert wait(lambda: link.connected and link.welcome is not None)
    assert link.request(lambda i: Arm(id=i, file_stem="m1_s1")).ref > 0
    link.request(lambda i: StartAcquisition(id=i))
    link.send(TrialStart(trial=1, uid="s1/1", context="T1", instructed="left", device_t=0.1))
    status = link.request(lambda i: StatusRequest(id=i))
    assert isinstance(status, Status) and status.acquiring and status.file_stem == "m1_s1"
    link.request(lambda i: StopAcquisition(id=i))
    assert wait(lambda: bridge.received >= 6)
    log = [json.loads(x) for x in (tmp_path / "bridge.jsonl").read_text().splitlines()]
    assert "TrialStart" in [e.get("type") for e in log]


def test_stopping_the_bridge_raises_the_alarm_and_a_restart_reconnects(tmp_path: Path) -> None:
    ep = endpoint()
    bridge, thread = start_bridge(ep, tmp_path / "log.jsonl")
    changes: list[tuple[bool, float]] = []
    import time

    link = ScopeLink(ep, on_change=lambda up: changes.append((up, time.monotonic())))
    try:
        assert wait(lambda: link.connected)
        bridge.stop()
        thread.join(5)
        stopped = time.monotonic()
        assert wait(lambda: not link.connected)
        assert changes[-1][0] is False and changes[-1][1] - stopped < 1.5  # lost after 1 s
        bridge, thread = start_bridge(ep, tmp_path / "log.jsonl")
        assert wait(lambda: link.connected)  # Hello again, Welcome again
    finally:
        link.close()
        bridge.stop()
        thread.join(5)


def test_bad_messages_are_counted_not_fatal(pair: tuple[Bridge, ScopeLink, str]) -> None:
    bridge, link, ep = pair
    raw = zmq.Context.instance().socket(zmq.DEALER)
    raw.setsockopt(zmq.LINGER, 0)
    raw.connect(ep)
    raw.send_multipart([b"TrialStart", b"not json"])
    raw.send_multipart([b"x"])
    raw.send_multipart([b"Heartbeat", b"y" * (MAX_BYTES + 1)])
    assert wait(lambda: bridge.refused == 3)
    raw.close()
    assert link.request(lambda i: StatusRequest(id=i))  # the bridge still answers


def test_curve_refuses_a_client_without_the_key(tmp_path: Path) -> None:
    public, secret = zmq.curve_keypair()
    ep = endpoint()
    bridge, thread = start_bridge(ep, tmp_path / "log.jsonl", curve_secret_key=secret)
    keyed = ScopeLink(ep, curve_server_key=public)
    plain = ScopeLink(ep)
    try:
        assert wait(lambda: keyed.connected)
        assert not wait(lambda: plain.connected, timeout=1.5)
        assert bridge.received >= 1 and all(p for p in bridge.peers)
    finally:
        keyed.close()
        plain.close()
        bridge.stop()
        thread.join(5)


def test_file_drop_backend_writes_requests_and_reads_status(tmp_path: Path) -> None:
    backend = FileDropBackend(tmp_path / "drop")
    backend.handle(Arm(id=4, file_stem="m1"))
    assert json.loads((tmp_path / "drop" / "request-4.json").read_text()) == {
        "id": 4, "type": "Arm", "file_stem": "m1"}  # fmt: skip
    missing = backend.handle(StatusRequest(id=5))
    assert getattr(missing, "code", "") == "no_status"
    (tmp_path / "drop" / "status.json").write_text(json.dumps(
        {"acquiring": True, "acquisition": 2, "file_stem": "m1", "frames_acquired": 900,
         "frames_dropped": 1}))  # fmt: skip
    status = backend.handle(StatusRequest(id=6))
    assert isinstance(status, Status) and status.frames_acquired == 900
