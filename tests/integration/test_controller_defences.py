"""The controller against a hostile or careless client: any bytes, any number of frames,
any size, protocol paths out of its folder, a long calibration, the ways its process ends.

Every test ends by asking ``hello``: the controller must still be serving.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import zmq

from rig.control.client import ControllerClient, ControllerError
from rig.control.server import MAX_REQUEST_BYTES
from tests.scope.test_sync import wait

pytestmark = [pytest.mark.realtime]


def _raw(endpoint: str, kind: int = zmq.REQ) -> zmq.Socket[bytes]:
    sock: zmq.Socket[bytes] = zmq.Context.instance().socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    return sock


def _answer(sock: zmq.Socket[bytes], frames: list[bytes], timeout_ms: int = 10_000) -> Any:
    sock.send_multipart(frames)
    assert sock.poll(timeout_ms), f"no answer to {[f[:20] for f in frames]}"
    return json.loads(sock.recv())


@pytest.mark.parametrize(
    ("frames", "error"),
    [
        ([b"[" * 100_000], "not JSON: RecursionError"),  # killed the controller before
        ([b'{"cmd": "hello"}', b"second"], "one frame of JSON; this one had 2"),
        ([b"a", b"b", b"c", b"d"], "had 4"),
        ([b""], "not JSON"),
        ([b"\xff\xfe\x00garbage"], "not JSON"),
        ([b"[]"], 'a JSON object with a "cmd" string'),
        ([b'{"cmd": 7}'], 'a JSON object with a "cmd" string'),
        ([b'{"cmd": "history", "since": 1e999}'], "since"),
        ([b'{"cmd": "command", "action": "pause", "args": [1]}'], "no session is running"),
        ([b'{"cmd": "annotate", "session_dir": "/etc"}'], "not a session of this rig"),
    ],
)
def test_any_bytes_get_an_error_and_the_controller_keeps_serving(
    client: ControllerClient, frames: list[bytes], error: str
) -> None:
    sock = _raw(client.endpoint)
    reply = _answer(sock, frames)
    sock.close()
    assert reply["ok"] is False and error in reply["error"], reply
    assert client.request("hello")["rig"] == "sim"


def test_a_request_over_the_size_limit_drops_its_sender_not_the_controller(
    client: ControllerClient,
) -> None:
    sock = _raw(client.endpoint)
    sock.send(b'{"cmd": "hello", "pad": "' + b"x" * MAX_REQUEST_BYTES + b'"}')
    assert not sock.poll(1500)  # ZeroMQ dropped the connection: no answer, no memory held
    sock.close()
    assert client.request("hello")["rig"] == "sim"


def test_a_dealer_is_answered_with_or_without_an_envelope(client: ControllerClient) -> None:
    sock = _raw(client.endpoint, zmq.DEALER)
    for envelope in ([], [b""]):
        sock.send_multipart([*envelope, b'{"cmd": "hello"}'])
        assert sock.poll(10_000)
        *got, reply = sock.recv_multipart()
        assert got == envelope and json.loads(reply)["rig"] == "sim"
    sock.close()


@pytest.mark.parametrize("seed", range(4))
def test_garbage_on_the_tcp_ports_neither_stalls_nor_kills_the_controller(
    root: Path, tmp_path: Path, seed: int
) -> None:
    """Random bytes to the request and the event ports. Before: with a REP socket a hello
    waited 3 s after 20 such connections; and libzmq, reading garbage as ZMTP 1.0, aborted
    the process ("Resource temporarily unavailable (src/zmtp_engine.cpp:422)", seed 3)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"tcp://127.0.0.1:{port}"
    proc = _serve(root, tmp_path, endpoint)
    rng = random.Random(seed)
    try:
        client = ControllerClient(endpoint, timeout_s=20)
        assert client.request("hello")["rig"] == "sim"
        slowest = 0.0
        for i in range(200):
            with socket.create_connection(("127.0.0.1", port + i % 2)) as raw:
                raw.sendall(rng.randbytes(rng.randrange(1, 5000)))
            if i % 10 == 0:
                t0 = time.monotonic()
                client.request("hello", timeout_s=5)
                slowest = max(slowest, time.monotonic() - t0)
        assert slowest < 1.0
        client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


@pytest.mark.parametrize(
    "protocol",
    ["/etc/passwd", "../hardware_configs/sim.yaml", "protocols/tactile_T1.yaml", "missing.yaml"],
)
def test_protocols_come_from_the_protocols_folder_only(
    client: ControllerClient, root: Path, protocol: str
) -> None:
    outside = root / "hardware_configs/sim.yaml"  # a YAML file the controller can read
    for name in (protocol, str(outside)):
        for cmd in ("start", "suggest"):
            with pytest.raises(ControllerError, match="not a protocol of") as caught:
                client.request(cmd, subject="m1", protocol=name, trials=1)
            assert "valves" not in str(caught.value)  # nothing of the file is told
    assert client.request("hello")["busy"] == ""  # nothing started


def _serve(root: Path, tmp_path: Path, endpoint: str, *extra: str) -> subprocess.Popen[str]:
    rig = str(root / "hardware_configs/sim.yaml")
    cmd = [sys.executable, "-m", "rig.cli", "serve", "--rig", rig,
           "--data-dir", str(tmp_path / "data"), "--protocols", str(root / "protocols"),
           "--endpoint", endpoint, "--seed", "3", *extra]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.Popen(cmd, cwd=root, env=env, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_hostile_requests_then_a_signal_stop_the_session_and_record_it(
    root: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    """Before: a two-frame request killed the request loop, the session thread ran on out
    of reach, and a later SIGTERM ended the process with ``session.json`` still running."""
    endpoint = f"ipc://{tempfile.mkdtemp(prefix='rig-test-')}/ctl"
    proc = _serve(root, tmp_path, endpoint, "--speed", "20")
    try:
        client = ControllerClient(endpoint, timeout_s=20)
        client.request("create_subject", subject="m1")
        client.request("start", subject="m1", protocol="tactile_T1.yaml", trials=500)
        trials: list[Path] = []

        def one_trial_done() -> bool:
            trials[:] = list((tmp_path / "data/m1").glob("*/trials.jsonl"))
            return bool(trials and trials[0].read_text())

        assert wait(one_trial_done, timeout=60)
        sock = _raw(endpoint)
        for frames in ([b"[" * 100_000], [b"{}", b"{}"], [b"\x00" * 1000]):
            assert _answer(sock, frames)["ok"] is False
        sock.close()
        assert client.request("hello")["busy"] == "session"  # still serving, still running
        client.close()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    meta = json.loads((trials[0].parent / "session.json").read_text())
    assert meta["status"] == "aborted"  # stopped between trials, recorded, device let go
    ends = [json.loads(x) for x in (trials[0].parent / "events.jsonl").read_text().splitlines()]
    started = {e["trial"] for e in ends if e["kind"] == "trial_start"}
    ended = {e["trial"] for e in ends if e["kind"] == "trial_end"}
    assert started == ended  # no trial was left running on the device


def test_a_long_calibration_leaves_the_controller_listening_and_can_be_aborted(
    root: Path, tmp_path: Path
) -> None:
    """On the emulated Bpod, in real time: 100 pulses of 0.2 s, 2 s apart, would take 3.7
    minutes; ``hello`` is answered meanwhile and ``abort_calibration`` ends them."""
    hardware = tmp_path / "bpod.yaml"
    hardware.write_text((root / "hardware_configs/bpod-emulator.yaml").read_text())
    endpoint = f"ipc://{tempfile.mkdtemp(prefix='rig-test-')}/ctl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rig.cli", "serve", "--rig", str(hardware), "--endpoint", endpoint,
         "--data-dir", str(tmp_path / "data"), "--protocols", str(root / "protocols")],
        cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        client = ControllerClient(endpoint, timeout_s=20)
        started = client.request(
            "calibrate", valve="valve_left", open_s=0.2, pulses=100, interval_s=2.0
        )
        assert started["started"]
        assert wait(lambda: client.request("calibration")["openings"] >= 2, timeout=30)
        t0 = time.monotonic()
        hello = client.request("hello", timeout_s=2)  # before: no answer for minutes
        assert hello["busy"] == "calibration" and time.monotonic() - t0 < 2
        with pytest.raises(ControllerError, match="busy"):
            client.request("start", subject="m1", protocol="tactile_T1.yaml")
        client.request("abort_calibration")
        assert wait(lambda: not client.request("calibration")["running"], timeout=10)
        status = client.request("calibration")
        assert status["aborted"] and 2 <= status["openings"] < 100
        assert client.request("hello")["busy"] == ""
        client.request("shutdown")
        client.close()
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
