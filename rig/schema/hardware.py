"""Hardware configs (one YAML per rig) as pydantic models.

A hardware config names the rig's devices by URL, maps the rig-neutral channel names that
protocols speak (``lick_left``, ``valve_right``, ``go_cue``, ...) to the device's own
channel names, holds each valve's dated calibration (open time -> volume), and says where
the data go. ``sim.yaml`` describes the simulated rig.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from rig.schema.base import CrossChecked, Strict
from rig.schema.loader import located_errors

INPUT_CHANNELS = ("lick_left", "lick_right", "frame_clock", "aux")
OUTPUT_CHANNELS = (
    "valve_left",
    "valve_right",
    "go_cue",
    "sample_tone_high",
    "sample_tone_low",
    "pole_drop",
    "pole_position",
    "trial_ttl",
)
CHANNELS = INPUT_CHANNELS + OUTPUT_CHANNELS
Valve = Literal["valve_left", "valve_right"]
VALVE_FOR_SIDE: dict[str, Valve] = {"left": "valve_left", "right": "valve_right"}


class CalibrationPoint(Strict):
    open_s: Annotated[float, Field(gt=0, le=1)]
    volume_ul: Annotated[float, Field(gt=0)]


class SpotCheck(Strict):
    """A quick check of a calibration: pulses at one open time, weighed."""

    date: dt.date
    open_s: Annotated[float, Field(gt=0, le=1)]
    expected_ul: Annotated[float, Field(gt=0)]
    measured_ul: Annotated[float, Field(ge=0)]

    @property
    def drift_percent(self) -> float:
        return 100.0 * (self.measured_ul - self.expected_ul) / self.expected_ul


SPOT_CHECK_TOLERANCE_PERCENT = 10.0


class ValveCalibration(Strict):
    """Measured volume per opening at several open times, and when it was measured.

    Between points, volume is interpolated linearly. Beyond the measured volumes the line
    through the two nearest points would have to be extended: an open time is refused
    there unless asked for (``beyond_points``; the protocol's ``reward.beyond_calibration``),
    because an extended line may give far more (or less) than asked.
    """

    date: dt.date
    points: list[CalibrationPoint] = Field(min_length=2)
    max_open_s: Annotated[float, Field(gt=0, le=1)] = 0.2
    spot_check: SpotCheck | None = None  # the newest one since this calibration

    @model_validator(mode="after")
    def _increasing(self) -> ValveCalibration:
        problems = [
            (f"points.{i}", "open times and volumes must both increase from point to point")
            for i in range(1, len(self.points))
            if self.points[i].open_s <= self.points[i - 1].open_s
            or self.points[i].volume_ul <= self.points[i - 1].volume_ul
        ]
        if problems:
            raise located_errors(problems)
        return self

    def open_time_s(self, volume_ul: float, *, beyond_points: bool = False) -> float:
        """The open time that delivers ``volume_ul``; raises if past ``max_open_s``, or
        (unless ``beyond_points``) outside the calibration's measured volumes."""
        xs = [p.volume_ul for p in self.points]
        ys = [p.open_s for p in self.points]
        if not beyond_points and not xs[0] - 1e-9 <= volume_ul <= xs[-1] + 1e-9:
            raise ValueError(
                f"{volume_ul} uL is outside the calibrated volumes ({xs[0]:g}-{xs[-1]:g} uL "
                f"per opening, measured {self.date}): calibrate the valve over it, or set "
                "reward.beyond_calibration: true to extend the line through its nearest points"
            )
        t = _interpolate(xs, ys, volume_ul)
        if t <= 0 or t > self.max_open_s:
            raise ValueError(
                f"{volume_ul} uL needs an open time of {t:.4f} s, outside (0, {self.max_open_s}]"
            )
        return t

    def volume_ul(self, open_s: float) -> float:
        xs = [p.open_s for p in self.points]
        ys = [p.volume_ul for p in self.points]
        return max(0.0, _interpolate(xs, ys, open_s))


def _interpolate(xs: list[float], ys: list[float], x: float) -> float:
    i = min(max(bisect_left(xs, x), 1), len(xs) - 1)
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


class Device(Strict):
    """The behaviour controller: ``sim://`` (virtual time), ``serial:///dev/ttyACM0``, ..."""

    kind: Literal["sim", "bpod", "lickport"] = "sim"
    url: str = "sim://"


class Lickport(Strict):
    """The lick-port board's own settings (``kind: lickport``; firmware/lickport/)."""

    debounce_ms: Annotated[float, Field(ge=0, le=50)] = 1.0  # lick lines; 0: none
    heartbeat_timeout_s: Annotated[float, Field(ge=0.1, le=60)] = 1.0  # then valves close
    bitcode: bool = True  # the trial number on the bitcode pin at each trial start
    board: Literal["uno", "mega"] = "uno"  # how many states a machine may have


class SimulatedMouse(Strict):
    """How a new simulated subject starts (only used by the simulated rig)."""

    start: Literal["naive", "shaped"] = "shaped"
    shaped_strength: Annotated[float, Field(ge=0, le=1)] = 0.12


class Scope(Strict):
    """The two-photon microscope. ``fake``: the fake ScanImage (``rig.sim.scope``) images
    the session and writes its TIFFs into the session's ``scope/`` folder. ``bridge``: the
    rig talks to ``rig scope-bridge`` on the ScanImage PC (``rig.sync``)."""

    kind: Literal["none", "fake", "bridge"] = "none"
    endpoint: str = "tcp://127.0.0.1:5570"  # bridge: where `rig scope-bridge` listens
    curve_server_key: str | None = None  # bridge: its CURVE public key (Z85); None: no CURVE
    curve_key_file: str | None = None  # bridge with an allow list: this rig's secret key file
    frame_rate_hz: Annotated[float, Field(gt=0, le=1000)] = 30.0
    planes: Annotated[int, Field(ge=1, le=100)] = 5
    channels: list[Annotated[int, Field(ge=1, le=4)]] = Field(default=[1], min_length=1)
    offset_s: float = 0.0  # fake only: the scope's clock at device time 0
    drift_ppm: Annotated[float, Field(ge=-200, le=200)] = 0.0
    jitter_s: Annotated[float, Field(ge=0, le=0.01)] = 0.0
    trigger_jitter_s: Annotated[float, Field(ge=0, le=0.01)] = 0.0
    drop_fraction: Annotated[float, Field(ge=0, lt=1)] = 0.0
    frames_per_file: Annotated[int, Field(ge=1)] = 1000
    version: Literal["2016+", "5", "3"] = "2016+"
    outage: tuple[float, float] | None = None  # fake only: device seconds with no frames


class HardwareConfig(CrossChecked):
    name: str
    description: str = ""
    device: Device = Device()
    channels: dict[str, str] = {name: name for name in CHANNELS}
    valves: dict[Valve, ValveCalibration]
    data_dir: Path = Path("~/rig-data")
    calibration_max_age_days: Annotated[int, Field(ge=1)] = 30
    simulated_mouse: SimulatedMouse = SimulatedMouse()
    lickport: Lickport = Lickport()
    scope: Scope = Scope()
    require_scope: bool = False  # refuse to start a session without the microscope

    @classmethod
    def raw_problems(cls, data: dict[str, Any]) -> list[tuple[str, str]]:
        channels, valves = data.get("channels", {}), data.get("valves")
        problems = []
        if isinstance(channels, dict):
            problems += [
                (f"channels.{name}", f"unknown channel (known: {', '.join(CHANNELS)})")
                for name in channels
                if name not in CHANNELS
            ]
        if isinstance(valves, dict):
            problems += [
                ("valves", f"a calibration of {valve} is required")
                for valve in VALVE_FOR_SIDE.values()
                if valve not in valves
            ]
        return problems

    def stale_calibrations(self, today: dt.date) -> list[str]:
        """A warning per valve whose calibration is older than ``calibration_max_age_days``
        (or dated in the future: a typo, or a wrong clock)."""
        warnings = []
        for valve, cal in sorted(self.valves.items()):
            age = (today - cal.date).days
            if age > self.calibration_max_age_days:
                warnings.append(
                    f"{valve} was calibrated {age} days ago ({cal.date}); "
                    f"recalibrate it (limit: {self.calibration_max_age_days} days)"
                )
            elif age < 0:
                warnings.append(f"{valve}'s calibration is dated in the future ({cal.date})")
            check = cal.spot_check
            if check is not None and abs(check.drift_percent) > SPOT_CHECK_TOLERANCE_PERCENT:
                warnings.append(
                    f"{valve}'s spot check on {check.date} measured {check.measured_ul:.2f} uL "
                    f"per opening of {check.open_s} s, {check.drift_percent:+.0f} % from the "
                    f"calibration's {check.expected_ul:.2f} uL; recalibrate it "
                    f"(limit: {SPOT_CHECK_TOLERANCE_PERCENT:.0f} %)"
                )
        return warnings

    def delivered_ul(self, side: str, open_s: float) -> float:
        """The volume one opening of ``open_s`` delivers on ``side``, by the calibration."""
        return self.valve(side).volume_ul(open_s)

    def valve(self, side: str) -> ValveCalibration:
        return self.valves[VALVE_FOR_SIDE[side]]
