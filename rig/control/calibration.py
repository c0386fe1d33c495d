"""Valve calibration: pulse a valve on the device, fit the weighed water, save it dated.

The technician runs ``pulses`` openings of ``open_s`` each (``interval_s`` apart) at one
open time, weighs the water (1 mg = 1 uL), puts a new tube under the valve, and goes on
to the next open time (one ``calibrate`` request a step). The rig's hardware config keeps
the measured points (volume per opening; the session interpolates between them) with the
date; a least-squares line through them is shown with them, and a spot check (one run at
the open time of the reward volume) is compared with the calibration: more than 10 % off
and the launcher warns.

Points that make an implausible line are questioned (:func:`questions`) before they are
saved: ``save_calibration`` refuses them unless the request says ``confirmed``. Every
version of the hardware config a save replaces is kept, dated, in ``<config>.history/``
(:func:`_write_checked`): an old calibration is never lost.

The pulses are one state machine run on the device (timing on the device, as for trials).
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rig.fsm.model import Output, State, StateMachine
from rig.schema.hardware import HardwareConfig, SpotCheck, ValveCalibration
from rig.schema.loader import LoadError, load_model
from rig.session.recorder import append_all, make_dirs, sync_dir

MAX_PULSES = 100  # 2 states a pulse: within every Bpod's state limit
# a valve gives about nothing at no open time: a line that says otherwise is questioned
INTERCEPT_MAX_UL = 1.0  # or this share of the largest volume per opening, if more
INTERCEPT_MAX_SHARE = 0.1
OFF_LINE_SHARE = 0.25  # a point this far (and OFF_LINE_MIN_UL) from the others' line
OFF_LINE_MIN_UL = 0.2


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


def questions(points: Sequence[tuple[float, float]]) -> list[str]:
    """What is implausible about ``points`` ((open s, uL per opening)), one sentence each:
    a line that falls, an intercept far from 0, a point far from the line through the
    others (a 10x typo: 2,211 mg typed for 221). Empty when they look like a valve."""
    if len({x for x, _ in points}) < 2:
        return []
    fit, found = fit_line(points), []
    if fit.slope_ul_per_s <= 0:
        found.append(
            f"the volume falls as the open time grows ({fit.slope_ul_per_s:.1f} uL/s): "
            "a weight in the wrong row?"
        )
    limit = max(INTERCEPT_MAX_UL, INTERCEPT_MAX_SHARE * max(y for _, y in points))
    if abs(fit.intercept_ul) > limit:
        found.append(
            f"the line gives {fit.intercept_ul:+.2f} uL at an open time of 0 s (more than "
            f"{limit:.2f} uL from 0): a valve gives about nothing there"
        )
    worst: tuple[float, int, float] | None = None  # (how bad the others' line is, i, there)
    for i, (x, _) in enumerate(points):  # the point whose line through the others is best
        others = [p for j, p in enumerate(points) if j != i]
        if len({ox for ox, _ in others}) >= 2:
            line = fit_line(others)
            spread = math.sqrt(sum((oy - line.volume_ul(ox)) ** 2 for ox, oy in others))
            bad = spread + max(0.0, abs(line.intercept_ul) - limit)
            bad += math.inf if line.slope_ul_per_s <= 0 else 0.0
            if worst is None or bad < worst[0]:
                worst = (bad, i, line.volume_ul(x))
    if worst is not None:
        _, i, expected = worst
        x, y = points[i]
        off = abs(y - expected)
        if off > OFF_LINE_MIN_UL and off > OFF_LINE_SHARE * max(abs(expected), abs(y)):
            ratio = y / expected if expected > 0 else 0.0
            typo = 5 <= ratio <= 20 or 0.05 <= ratio <= 0.2
            found.append(
                f"the point at {x:g} s ({y:.2f} uL per opening) is far from the line through "
                f"the others ({expected:.2f} uL expected there)"
                + (": a digit too many or too few in its weight?" if typo else "")
            )
    return found


def _read_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a hardware config (expected a mapping)")
    return data


def history_dir(path: Path) -> Path:
    """Where every version of ``path`` a save replaced is kept: ``<name>.history/``."""
    return path.with_name(path.name + ".history")


def _keep(path: Path) -> Path:
    """A copy of ``path`` as it is now in :func:`history_dir`, named by the time it is
    replaced (``2026-12-07T10-31-05.yaml``; ``-2``, ``-3``... for a second in the same
    second), written whole and fsynced, with its folder: never overwritten."""
    folder = history_dir(path)
    make_dirs(folder)
    stamp = dt.datetime.now().strftime("%Y-%m-%dT%H-%M-%S")
    data = path.read_bytes()
    for n in range(1, 1000):
        kept = folder / (f"{stamp}.yaml" if n == 1 else f"{stamp}-{n}.yaml")
        try:
            fd = os.open(kept, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        try:
            append_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        sync_dir(folder)
        return kept
    raise OSError(f"{folder}: a thousand versions kept in one second")


def _write_checked(path: Path, data: dict[str, Any], why: str) -> HardwareConfig:
    """Write ``data`` to ``path`` if it is a valid hardware config; the old file is kept
    first in ``<name>.history/`` (:func:`_keep`). Comments are not kept (the header says
    why). The new file is fsynced before the rename, and the folder after it, so a power
    cut leaves the old file or the new one, and every old one in the history."""
    tmp = path.with_name(path.name + ".tmp")
    text = (
        f"# {why}\n# every previous version of this file: {history_dir(path).name}/\n"
        + yaml.safe_dump(data, sort_keys=False)
    )
    tmp.write_text(text, encoding="utf-8")
    try:
        config = load_model(tmp, HardwareConfig)
    except LoadError:
        tmp.unlink()
        raise
    _keep(path)  # the old file, on disk before the new one replaces it
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    sync_dir(path.parent)  # the rename
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


def checked_points(raw: object) -> list[tuple[float, float]]:
    """The ``points`` of a ``save_calibration`` request: [open s, uL per opening] pairs."""
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"points: {raw!r} is not a list of [open_s, volume_ul] pairs")
    points = []
    for i, point in enumerate(raw):
        ok = isinstance(point, list | tuple) and len(point) == 2
        if ok and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in point
        ):
            points.append((float(point[0]), float(point[1])))
        else:
            raise ValueError(f"points.{i}: {point!r} is not an [open_s, volume_ul] pair")
    return points


def calibration_request(
    cmd: str, req: dict[str, Any], path: Path
) -> tuple[HardwareConfig, dict[str, Any]]:
    """The controller's ``save_calibration`` (refused while :func:`questions` finds
    something, unless ``confirmed``) and ``spot_check``: the hardware config rewritten
    (dated today) and the reply."""
    from rig.control.requests import number, whole

    valve, today = checked_valve(req), dt.date.today()
    if cmd == "save_calibration":
        points = checked_points(req.get("points"))
        found = questions(points)
        if found and req.get("confirmed") is not True:
            raise ValueError(
                f"points: not saved, questioned: {'; '.join(found)} (check the weights; "
                "send confirmed: true to save them as they are)"
            )
        config = save_calibration(path, valve, points, today)
        return config, {"warnings": config.stale_calibrations(today), "questions": found}
    pulses = whole(req, "pulses", 0)
    measured = per_opening(number(req, "weight_mg", -1.0), pulses)
    config, check = save_spot_check(path, valve, number(req, "open_s", 0.0), measured, today)
    return config, {
        "expected_ul": check.expected_ul,
        "measured_ul": check.measured_ul,
        "drift_percent": check.drift_percent,
        "warnings": config.stale_calibrations(today),
    }
