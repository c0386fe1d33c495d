"""The controller's requests that start a session: checked, then turned into a
:class:`~rig.session.session.SessionRequest` (``start``: a new session; ``resume``: an
interrupted one of the data folder). Every refusal names the field."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from rig.schema.hardware import HardwareConfig
from rig.schema.loader import load_model
from rig.schema.protocol import Protocol
from rig.session.history import check_subject_id
from rig.session.resume import resume_request
from rig.session.session import SessionRequest


def whole(req: dict[str, Any], key: str, default: int) -> int:
    value = req.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{key}: {value!r} is not a whole number")
    if value != int(value):
        raise ValueError(f"{key}: {value!r} is not a whole number")
    return int(value)


def number(req: dict[str, Any], key: str, default: float) -> float:
    value = req.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{key}: {value!r} is not a number")
    return float(value)


def weight_of(req: dict[str, Any]) -> float | None:
    if req.get("weight_g") is None:
        return None
    weight = number(req, "weight_g", 0.0)
    if not 1 <= weight <= 100:
        raise ValueError(f"weight_g: {weight} g is not a mouse's weight")
    return weight


def protocol_in(protocols_dir: Path, name: object) -> str:
    """``name`` if it is a protocol file of ``protocols_dir`` (a bare ``NAME.yaml``, there);
    anything else (a path, ``..``, a link out of the folder) is refused without being read."""
    known = sorted(p.name for p in protocols_dir.glob("*.yaml"))
    text = str(name)
    inside = (protocols_dir / text).resolve().parent == protocols_dir.resolve()
    if text not in known or not inside:  # a name the glob found is a bare name
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise ValueError(
            f"protocol {shown!r}: not a protocol of {protocols_dir} (known: {', '.join(known)})"
        )
    return text


def start_request(
    req: dict[str, Any],
    hardware: HardwareConfig,
    hardware_path: Path,
    protocols_dir: Path,
    data_dir: Path,
    speed: float,
    seed: int,
) -> SessionRequest:
    """A new session from the launcher's ``start`` request."""
    subject = check_subject_id(str(req.get("subject", "")))
    protocol_file = protocol_in(protocols_dir, req.get("protocol", ""))
    return SessionRequest(
        protocol=load_model(protocols_dir / protocol_file, Protocol),
        hardware=hardware,
        subject=subject,
        trials=whole(req, "trials", 1000),
        seed=whole(req, "seed", seed),
        data_dir=data_dir,
        operator=str(req.get("operator", "")),
        protocol_path=str(protocols_dir / protocol_file),
        hardware_path=str(hardware_path),
        realtime=True,
        weight_g=weight_of(req),
        notes=str(req.get("notes", "")),
        speed=speed,
        start_step=None if req.get("start_step") is None else whole(req, "start_step", 0),
        override_reason=str(req.get("override_reason", "")),
        fov=str(req.get("fov", "")),
    )


def resume_in(
    data_dir: Path, session: str, seed: int, speed: float, rig_now: HardwareConfig | None = None
) -> SessionRequest:
    """An interrupted session of ``data_dir`` continued (its own snapshots, the trials left;
    a valve calibrated since, in ``rig_now``, with its new calibration)."""
    folder = Path(session).resolve()
    if data_dir.resolve() not in folder.parents:
        raise ValueError(f"session {session!r}: not a session folder of {data_dir}")
    return dataclasses.replace(
        resume_request(folder, None, seed, realtime=True, rig_now=rig_now), speed=speed
    )
