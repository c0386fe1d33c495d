"""Valve calibration: pulse a valve on the device, fit the weighed water, save it dated.

The technician runs ``pulses`` openings of ``open_s`` each (``interval_s`` apart) at
several open times, weighs the water of each run (1 mg = 1 uL), and saves the points. The
rig's hardware config keeps the measured points (volume per opening; the session
interpolates between them) with the date; a least-squares line through them is shown with
them, and a spot check (one run at the open time of the reward volume) is compared with
the calibration: more than 10 % off and the launcher warns.

The pulses are one state machine run on the device (timing on the device, as for trials).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rig.fsm.model import Output, State, StateMachine
from rig.schema.hardware import HardwareConfig, SpotCheck, ValveCalibration
from rig.schema.loader import LoadError, load_model
from rig.session.recorder import sync_dir

MAX_PULSES = 100  # 2 states a pulse: within every Bpod's state limit


def pulse_machine(valve: str, open_s: float, pulses: int, interval_s: float) -> StateMachine:
    if not 1 <= pulses <= MAX_PULSES:
        raise ValueError(f"pulses: {pulses} is not in 1..{MAX_PULSES}")
    if not 0 < open_s <= 1 or not 0 < interval_s <= 10:
        raise ValueError(f"open_s {open_s} must be in (0, 1] and interval_s in (0, 10]")
    states = []
    for i in range(1, pulses + 1):
        last = i == pulses
        states.append(
            State(
                name=f"Open{i}",
                timer_s=open_s,
                transitions={"Tup": "exit" if last else f"Closed{i}"},
                outputs=(Output(channel=valve),),
            )
        )
        if not last:
            states.append(
                State(name=f"Closed{i}", timer_s=interval_s, transitions={"Tup": f"Open{i + 1}"})
            )
    return StateMachine(name=f"calibrate_{valve}", states=tuple(states))


@dataclass(frozen=True)
class Fit:
    slope_ul_per_s: float
    intercept_ul: float

    def volume_ul(self, open_s: float) -> float:
        return self.slope_ul_per_s * open_s + self.intercept_ul


def fit_line(points: Sequence[tuple[float, float]]) -> Fit:
    """Least squares of volume per opening against open time (two points at least)."""
    if len({x for x, _ in points}) < 2:
        raise ValueError("a fit needs points at two open times at least")
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    sxy = sum((x - mx) * (y - my) for x, y in points)
    slope = sxy / sxx
    return Fit(slope, my - slope * mx)


def per_opening(weights_mg: float, pulses: int) -> float:
    if weights_mg < 0 or pulses < 1:
        raise ValueError(f"a weight of {weights_mg} mg over {pulses} pulses makes no sense")
    return weights_mg / pulses  # water: 1 mg is 1 uL


def _read_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a hardware config (expected a mapping)")
    return data


def _write_checked(path: Path, data: dict[str, Any], why: str) -> HardwareConfig:
    """Write ``data`` to ``path`` if it is a valid hardware config; the old file is kept
    beside it as ``<name>.bak``. Comments are not kept (the header says why). The backup
    and the new file are fsynced before the rename, and the folder after it, so a power
    cut leaves the old file or the new one, and the backup."""
    tmp = path.with_name(path.name + ".tmp")
    text = f"# {why}\n# the previous version of this file: {path.name}.bak\n" + yaml.safe_dump(
        data, sort_keys=False
    )
    tmp.write_text(text, encoding="utf-8")
    try:
        config = load_model(tmp, HardwareConfig)
    except LoadError:
        tmp.unlink()
        raise
    backup = path.with_name(path.name + ".bak")
    with backup.open("wb") as f:  # the old file, on disk before the new one replaces it
        f.write(path.read_bytes())
        f.flush()
        os.fsync(f.fileno())
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    sync_dir(path.parent)  # the rename and the backup's entry
    return config


def save_calibration(
    path: Path, valve: str, points: Sequence[tuple[float, float]], date: dt.date
) -> HardwareConfig:
    """Replace ``valve``'s calibration in the hardware config file with ``points``
    ((open s, uL per opening), sorted by open time); raises :class:`LoadError` naming the
    field when the points are not usable (volumes must rise with open time)."""
    data = _read_yaml(path)
    valves = data.setdefault("valves", {})
    old = valves.get(valve) or {}
    entry: dict[str, Any] = {
        "date": date.isoformat(),
        "max_open_s": old.get("max_open_s", ValveCalibration.model_fields["max_open_s"].default),
        "points": [{"open_s": round(x, 5), "volume_ul": round(y, 4)} for x, y in sorted(points)],
    }
    valves[valve] = entry
    return _write_checked(path, data, f"{valve} calibrated on {date.isoformat()} by rig")


def save_spot_check(
    path: Path, valve: str, open_s: float, measured_ul: float, date: dt.date
) -> tuple[HardwareConfig, SpotCheck]:
    data = _read_yaml(path)
    config = load_model(path, HardwareConfig)
    if valve not in config.valves:
        raise ValueError(f"{path}: valves.{valve}: no calibration to check")
    expected = config.valves[valve].volume_ul(open_s)
    check = SpotCheck(date=date, open_s=open_s, expected_ul=expected, measured_ul=measured_ul)
    data["valves"][valve]["spot_check"] = check.model_dump(mode="json")
    config = _write_checked(path, data, f"{valve} spot-checked on {date.isoformat()} by rig")
    return config, check


def checked_valve(req: dict[str, Any]) -> str:
    valve = str(req.get("valve", ""))
    if valve not in ("valve_left", "valve_right"):
        raise ValueError(f"valve: {valve!r} is not valve_left or valve_right")
    return valve


def calibration_request(
    cmd: str, req: dict[str, Any], path: Path
) -> tuple[HardwareConfig, dict[str, Any]]:
    """The controller's ``save_calibration`` and ``spot_check``: the hardware config
    rewritten (dated today) and the reply."""
    from rig.control.requests import number, whole

    valve, today = checked_valve(req), dt.date.today()
    if cmd == "save_calibration":
        points = [(float(x), float(y)) for x, y in req.get("points", [])]
        config = save_calibration(path, valve, points, today)
        return config, {"warnings": config.stale_calibrations(today)}
    pulses = whole(req, "pulses", 0)
    measured = per_opening(number(req, "weight_mg", -1.0), pulses)
    config, check = save_spot_check(path, valve, number(req, "open_s", 0.0), measured, today)
    return config, {
        "expected_ul": check.expected_ul,
        "measured_ul": check.measured_ul,
        "drift_percent": check.drift_percent,
        "warnings": config.stale_calibrations(today),
    }
