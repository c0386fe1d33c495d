"""A simulated session to image and align, and its trial records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rig.schema import HardwareConfig, Protocol, load_model
from rig.session.session import SessionRequest, run_session


def simulated_session(root: Path, data: Path, subject: str, trials: int) -> Path:
    """``trials`` trials of protocols/tactile_T1.yaml on the simulated rig (seed 4)."""
    protocol = load_model(root / "protocols/tactile_T1.yaml", Protocol)
    hardware = load_model(root / "hardware_configs/sim.yaml", HardwareConfig)
    return run_session(SessionRequest(protocol, hardware, subject, trials, 4, data)).session_dir


def trial_records(session: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (session / "trials.jsonl").read_text().splitlines()]
