"""Which valve calibration each trial of a session ran with, and a resume's newer one.

A session runs with its hardware config's snapshot (``session.json`` ``hardware``). A
session resumed days later may meet a valve that was recalibrated meanwhile: kept on the
old calibration, a valve whose volume doubled gave 5.5 uL for 2.5 asked, with no word. So
a resume takes the rig's current calibration of any valve calibrated since (dated later),
records it in its ``resumes`` entry (``valves``, with a warning), and the trials from that
resume's ``first_trial`` on ran with it. :func:`hardware_at` says which calibration a
given trial had: the NWB export and a later resume rebuild machines and water with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rig.schema.hardware import HardwareConfig
from rig.schema.loader import LoadError, load_model


def hardware_at(meta: dict[str, Any], trial: float) -> HardwareConfig:
    """The hardware snapshot with the valve calibrations ``trial`` ran with."""
    data = dict(meta["hardware"])
    valves = dict(data.get("valves") or {})
    for entry in meta.get("resumes", []):
        if "valves" in entry and int(entry["first_trial"]) <= trial:
            valves.update(entry["valves"])
    data["valves"] = valves
    return HardwareConfig.model_validate(data)


def rig_config_now(meta: dict[str, Any]) -> HardwareConfig | None:
    """The session's hardware config file as it is now (``hardware_file``), if readable."""
    name = str(meta.get("hardware_file") or "")
    if not name or not Path(name).is_file():
        return None
    try:
        return load_model(Path(name), HardwareConfig)
    except LoadError:
        return None


def newer_calibrations(
    meta: dict[str, Any], now: HardwareConfig | None
) -> tuple[dict[str, Any], list[str]]:
    """The valves of ``now`` calibrated after the calibration the session last ran with
    (valve -> calibration as JSON), and a warning for each (or for a config of another rig)."""
    if now is None:
        return {}, []
    last = hardware_at(meta, float("inf"))
    if now.name != last.name:
        return {}, [
            f"the hardware config of the resume is of rig {now.name!r}, the session's of "
            f"{last.name!r}: the session's own calibration is kept"
        ]
    newer: dict[str, Any] = {}
    warnings = []
    for valve, cal in sorted(now.valves.items()):
        before = last.valves.get(valve)
        if before is None or cal.date <= before.date:
            continue
        newer[valve] = cal.model_dump(mode="json")
        warnings.append(
            f"{valve} was recalibrated on {cal.date} (the session ran with the calibration of "
            f"{before.date}): the resumed trials use the new calibration"
        )
    return newer, warnings
