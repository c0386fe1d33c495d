"""Faults on the emulated Bpod's link, in a real session through the real client: the
device reset mid-trial, the link dead for 2 s mid-trial, garbage every few hundred bytes
(``emulate://bpod?profile=P&fault=SPEC``, rig/sim/faults/link.py)."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pytest

from rig.devices.bpod.client import DeviceLost
from rig.schema import HardwareConfig, Protocol, load_model
from rig.session.resume import resume_request
from rig.session.session import SessionRequest, run_session

pytestmark = [pytest.mark.realtime, pytest.mark.slow]


def _hardware(root: Path, fault: str) -> HardwareConfig:
    hw = load_model(root / "hardware_configs/bpod-emulator.yaml", HardwareConfig)
    url = "emulate://bpod?profile=r2-fw23" + (f"&fault={fault}" if fault else "")
    return hw.model_copy(update={"device": hw.device.model_copy(update={"url": url})})


def _run(root: Path, data: Path, fault: str, trials: int = 5) -> Path:
    protocol = load_model(root / "tests/data/short_trials.yaml", Protocol)
    request = SessionRequest(protocol, _hardware(root, fault), "b1", trials, 3, data,
                             realtime=True)  # fmt: skip
    with pytest.raises(DeviceLost, match="no event from the Bpod"):
        run_session(request)
    return next((data / "b1").glob("2*"))


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("fault", ["reset-after=600", "silent-after=600"])
def test_a_device_reset_or_a_dead_link_mid_trial_stops_the_session_and_resume_continues_it(
    root: Path, tmp_path: Path, fault: str
) -> None:
    folder = _run(root, tmp_path, fault)
    meta = json.loads((folder / "session.json").read_text())
    assert meta["status"] == "crashed"
    before = _lines(folder / "trials.jsonl")
    assert 0 < len(before) < 5  # it stopped mid-session, the trials before it recorded
    request = resume_request(folder, None, 4, realtime=True)
    request = dataclasses.replace(request, hardware=_hardware(root, ""))  # the device is back
    assert run_session(request).status == "completed"
    meta = json.loads((folder / "session.json").read_text())
    (resume,) = meta["resumes"]
    records = _lines(folder / "trials.jsonl")
    assert [r["trial"] for r in records[: len(before)]] == [r["trial"] for r in before]
    assert [r["trial"] for r in records] == [
        t for t in range(1, 6) if t not in resume["interrupted_trials"]
    ]
    assert resume["interrupted_trials"] == [len(before) + 1]


def test_garbage_inside_the_bpod_s_frames_is_caught_within_seconds_and_resumed(
    root: Path, tmp_path: Path
) -> None:
    """The Bpod's frames carry no checksum: garbage slipped inside them (1-16 bytes every
    150) can desynchronise the host. The host then hears nothing it can use; within 5 s it
    declares the device lost (no hang), and the session is resumed. Garbage between frames
    is skipped with nothing lost (test_bpod_session.py)."""
    protocol = load_model(root / "tests/data/short_trials.yaml", Protocol)
    request = SessionRequest(protocol, _hardware(root, "garbage-every=150"), "b1", 5, 3,
                             tmp_path, realtime=True)  # fmt: skip
    started = time.monotonic()
    try:
        status = run_session(request).status
    except DeviceLost as exc:
        assert "nothing from the Bpod for" in str(exc) or "no event from the Bpod" in str(exc)
        status = "lost"
    assert time.monotonic() - started < 60
    folder = next((tmp_path / "b1").glob("2*"))
    if status == "lost":
        again = resume_request(folder, None, 4, realtime=True)
        again = dataclasses.replace(again, hardware=_hardware(root, ""))
        assert run_session(again).status == "completed"
    numbers = [r["trial"] for r in _lines(folder / "trials.jsonl")]
    assert numbers == sorted(set(numbers)) and numbers[-1] == 5 and len(numbers) >= 3
