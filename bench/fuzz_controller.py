"""Reliability figure (issue 14): the controller's request socket fed any bytes, any number
of frames, any size, while a session runs.

A real ``rig serve`` process on the simulated rig (its own data folder and a copy of the
hardware config, so ``save_calibration`` may rewrite it) takes requests over a real REQ
socket: random bytes (0-400), mutated valid requests (rig/sim/faults/fuzz.py's mutator),
1-8 frames, deep nesting, frames at and over the size limit, many frames of just under
it, and raw TCP bytes (2,000 connections) to its request and event ports. A *crash* is a
process that died, or a reply that is not a JSON object; a *hang* is an answer slower than
1 s (an input over the size limit is not answered: ZeroMQ drops the connection, and
``hello`` must still answer at once).
A request that would shut the controller down (``shutdown``) is left out.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import zmq

from rig.control.server import MAX_REQUEST_BYTES
from rig.sim.faults.fuzz import mutate

ROOT = Path(__file__).resolve().parents[1]
INPUTS = 20_000
HANG_S = 1.0
SEEDS = [
    json.dumps(r).encode()
    for r in (
        {"cmd": "hello"},
        {"cmd": "history", "since": 3},
        {"cmd": "subjects"},
        {"cmd": "create_subject", "subject": "fuzz1"},
        {"cmd": "suggest", "subject": "fuzz1", "protocol": "tactile_T1.yaml"},
        {"cmd": "start", "subject": "fuzz1", "protocol": "tactile_T1.yaml", "trials": 3},
        {"cmd": "command", "action": "set", "args": {"path": "delay_s", "value": 1.0}},
        {"cmd": "command", "action": "drop", "args": {"side": "left"}},
        {"cmd": "annotate", "weight_g": 20.5, "notes": "ok"},
        {"cmd": "calibrate", "valve": "valve_left", "open_s": 0.01, "pulses": 2},
        {"cmd": "calibration"},
        {"cmd": "save_calibration", "valve": "valve_left", "points": [[0.01, 1.0], [0.02, 2.1]]},
        {"cmd": "spot_check", "valve": "valve_left", "open_s": 0.02, "pulses": 2, "weight_mg": 4},
        {"cmd": "resume", "session": "/tmp"},
        {"cmd": "manual", "action": "open", "args": {"side": "left", "ms": 50}},
        {"cmd": "manual", "action": "flush", "args": {"side": "both", "seconds": 2.0}},
        {"cmd": "manual", "action": "tone", "args": {"tone": "go_cue", "seconds": 0.5}},
        {"cmd": "manual", "action": "pole", "args": {"position": "anterior"}},
        {"cmd": "manual", "action": "stop"},
        {"cmd": "manual", "action": "status"},
    )
]


def _frames(rng: random.Random) -> list[bytes]:
    n = 1 if rng.random() < 0.7 else rng.randrange(2, 9)
    out = []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.45:
            out.append(mutate(rng.choice(SEEDS), rng))
        elif kind < 0.9:
            out.append(rng.randbytes(rng.randrange(400)))
        elif kind < 0.96:
            out.append(bytes([rng.choice(b"[{")]) * rng.randrange(1, 200_000))
        elif kind < 0.97:  # over the limit: ZeroMQ drops the sender's connection
            out.append(b" " * rng.randrange(MAX_REQUEST_BYTES + 1, 4 * MAX_REQUEST_BYTES))
        else:
            out.append(rng.choice(SEEDS))
    return out


def _is_shutdown(frames: list[bytes]) -> bool:
    try:
        request = json.loads(frames[0])
    except (ValueError, RecursionError):
        return False
    return isinstance(request, dict) and request.get("cmd") == "shutdown"


def _hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class _Client:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.context = zmq.Context.instance()
        self.sock = self._new()

    def _new(self) -> zmq.Socket[bytes]:
        sock: zmq.Socket[bytes] = self.context.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.endpoint)
        return sock

    def ask(self, frames: list[bytes], timeout_s: float) -> bytes | None:
        self.sock.send_multipart(frames)
        if not self.sock.poll(int(timeout_s * 1000)):
            self.sock.close()
            self.sock = self._new()
            return None
        return self.sock.recv()


def run() -> dict[str, Any]:
    rng = random.Random(14)
    work = Path(tempfile.mkdtemp(prefix="rig-fuzz-"))
    hardware = work / "sim.yaml"
    shutil.copy(ROOT / "hardware_configs/sim.yaml", hardware)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rig.cli", "serve", "--rig", str(hardware), "--endpoint", endpoint,
         "--data-dir", str(work / "data"), "--protocols", str(ROOT / "protocols"),
         "--speed", "50", "--seed", "1"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = _Client(endpoint)
    crashes: dict[str, int] = {}
    hangs, slowest, answered, skipped, oversize = 0, 0.0, 0, 0, 0
    started = time.perf_counter()
    try:
        assert client.ask([b'{"cmd": "hello"}'], 30) is not None, "the controller did not start"
        rss_start = _rss_mb(proc.pid)
        for i in range(INPUTS):
            frames = _frames(rng)
            if _is_shutdown(frames):
                skipped += 1
                continue
            big = max(len(f) for f in frames) > MAX_REQUEST_BYTES
            t0 = time.perf_counter()
            reply = client.ask(frames, 0.3 if big else 10)
            took = time.perf_counter() - t0
            if big:
                oversize += 1
            elif reply is None:
                hangs += 1
            else:
                slowest = max(slowest, took)
                hangs += took > HANG_S
                answered += 1
                try:
                    ok = isinstance(json.loads(reply), dict)
                except ValueError:
                    ok = False
                if not ok:
                    crashes[reply[:80].decode(errors="replace")] = 1
            if i % 500 == 0 and client.ask([b'{"cmd": "hello"}'], HANG_S) is None:
                hangs += 1
            if proc.poll() is not None:
                crashes["the controller died"] = 1
                break
        tcp_garbage = 2000
        for i in range(tcp_garbage):  # not ZeroMQ at all: to the request and event ports
            with socket.create_connection(("127.0.0.1", port + i % 2)) as raw:
                raw.sendall(rng.randbytes(rng.randrange(1, 5000)))
        rss_fuzzed, hwm_fuzzed = _rss_mb(proc.pid), _hwm_mb(proc.pid)
        big = _Client(endpoint)  # 200 frames each just under the limit: 200 MB in all
        t0 = time.perf_counter()
        big_reply = big.ask([b"x" * (MAX_REQUEST_BYTES - 1)] * 200, 60)
        big_s = time.perf_counter() - t0
        hello_after = client.ask([b'{"cmd": "hello"}'], HANG_S)
        alive = proc.poll() is None and hello_after is not None
        figures = {
            "inputs": INPUTS - skipped,
            "answered": answered,
            "over_the_size_limit": oversize,
            "shutdowns_left_out": skipped,
            "raw_tcp_connections": tcp_garbage,
            "crashes": sum(crashes.values()) + (not alive),
            "crash_kinds": crashes,
            "hangs": hangs,
            "slowest_answer_ms": round(slowest * 1000, 2),
            "wall_s": round(time.perf_counter() - started, 1),
            "rss_mb_at_start": round(rss_start, 1),
            "rss_mb_after_fuzzing": round(rss_fuzzed, 1),
            "peak_rss_mb_fuzzing": round(hwm_fuzzed, 1),
            "200_frames_of_1mb_answered_in_s": round(big_s, 2) if big_reply else None,
            "peak_rss_mb_after_200_frames_of_1mb": round(_hwm_mb(proc.pid), 1),
            "rss_mb_after_200_frames_of_1mb": round(_rss_mb(proc.pid), 1),
            "max_request_bytes": MAX_REQUEST_BYTES,
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)
    figures["exit_code_after_sigterm"] = proc.returncode
    return figures


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
