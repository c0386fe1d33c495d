"""The rig's light for photoinhibition: sources, their power calibration, the sites they
serve, the masking LED (the hardware config's ``light:`` section).

A *source* (a laser or an LED, on its driver's analog input) is commanded in volts on one
rig output (``light_1``, ``light_2``; ``channels`` maps it to the device's output). Its
*calibration* is a dated table of power-meter readings: the mean power (mW, at the
skull/fibre tip, constant command) at each command voltage. Power between points is
interpolated piecewise linearly; nothing is extrapolated below the first point or above
the last one, because a laser is not linear near its threshold (the Ultralasers driver is
off below 0.8 V) and a line extended past the measurements would give a power nobody
measured. A request outside the calibrated powers is refused.

A *site* (``left_ALM``, ``bilateral_ALM``) is where the protocol asks for light: the source
that serves it and, for a galvo scanner, its spots (x/y volts). A site of n spots is
scanned spot to spot, each lit 1/n of the time, so n times the per-spot mean power is asked
of the source (:meth:`Site.source_mw`), as does a site on n fibres of a split patch cord.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from rig.schema.base import Strict, both_increasing
from rig.schema.loader import located_errors

LIGHT_CHANNELS = ("light_1", "light_2", "masking_led")
LightOutput = Literal["light_1", "light_2"]
MAX_COMMAND_V = 10.0  # the Analog Output Module's widest unipolar range
Volts = Annotated[float, Field(ge=0, le=MAX_COMMAND_V)]
GalvoVolts = Annotated[float, Field(ge=-10, le=10)]


class LightPoint(Strict):
    """One power-meter reading: the command voltage and the mean power it gave."""

    volts: Volts
    power_mw: Annotated[float, Field(ge=0, le=1000)]


class LightCalibration(Strict):
    """Measured power against command voltage, dated (like a valve's calibration)."""

    date: dt.date
    points: list[LightPoint] = Field(min_length=2)
    meter: str = ""  # the power meter and sensor, as written on them

    @model_validator(mode="after")
    def _increasing(self) -> LightCalibration:
        both_increasing([(p.volts, p.power_mw) for p in self.points], "voltages and powers")
        return self

    @property
    def range_mw(self) -> tuple[float, float]:
        return self.points[0].power_mw, self.points[-1].power_mw

    def volts_for(self, power_mw: float) -> float:
        """The command voltage that gives ``power_mw``; raises ``ValueError`` outside the
        measured powers (no extrapolation)."""
        low, high = self.range_mw
        if not low - 1e-9 <= power_mw <= high + 1e-9:
            raise ValueError(
                f"{power_mw:g} mW is outside the calibrated powers ({low:g}-{high:g} mW, "
                f"measured {self.date})"
            )
        xs = [p.power_mw for p in self.points]
        ys = [p.volts for p in self.points]
        return _piecewise(xs, ys, min(max(power_mw, low), high))

    def power_mw_at(self, volts: float) -> float:
        """The power a command of ``volts`` gives; raises outside the measured voltages."""
        xs = [p.volts for p in self.points]
        if not xs[0] - 1e-9 <= volts <= xs[-1] + 1e-9:
            raise ValueError(
                f"{volts:g} V is outside the calibrated voltages ({xs[0]:g}-{xs[-1]:g} V)"
            )
        return _piecewise(xs, [p.power_mw for p in self.points], min(max(volts, xs[0]), xs[-1]))


def _piecewise(xs: list[float], ys: list[float], x: float) -> float:
    """Linear between the two points around ``x`` (``xs`` increasing, ``x`` within them)."""
    i = next((k for k in range(1, len(xs)) if x <= xs[k]), len(xs) - 1)
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


class LightSource(Strict):
    """A laser or LED driven by a command voltage on one rig output."""

    kind: Literal["laser", "led"] = "laser"
    output: LightOutput = "light_1"
    wavelength_nm: Annotated[float, Field(ge=200, le=2000)]
    max_volts: Volts = 5.0  # the driver's analog input range: never commanded above
    description: str = ""
    calibration: LightCalibration

    @model_validator(mode="after")
    def _calibrated_within_the_input(self) -> LightSource:
        if self.calibration.points[-1].volts > self.max_volts:
            raise located_errors(
                [("calibration.points", f"a point above max_volts ({self.max_volts} V)")]
            )
        return self


class GalvoSpot(Strict):
    x_v: GalvoVolts
    y_v: GalvoVolts


class Site(Strict):
    """Where light goes: its source, what it is, and for a galvo scanner its spots."""

    source: str
    location: str = ""  # e.g. "ALM, left hemisphere, AP 2.5 mm, ML -1.5 mm"
    spots: list[GalvoSpot] = []  # none: a fixed beam or fibres
    split: Annotated[int, Field(ge=1, le=8)] = 1  # fibres sharing the source (2: a 1x2 cord)

    def source_mw(self, power_mw: float) -> float:
        """What the source must give for a mean ``power_mw`` at each of the site's spots
        (or fibres): each of n scanned spots is lit 1/n of the time, each of n fibres of a
        split cord gets 1/n of the light."""
        return power_mw * max(1, len(self.spots)) * self.split


class Masking(Strict):
    """The masking LED on the rig output ``masking_led`` (seen by the mouse, not the brain)."""

    wavelength_nm: Annotated[float, Field(ge=200, le=2000)] = 470.0
    description: str = ""


class Light(Strict):
    sources: dict[str, LightSource] = Field(min_length=1)
    sites: dict[str, Site] = Field(min_length=1)
    masking: Masking | None = None  # None: the rig has no masking LED
    calibration_max_age_days: Annotated[int, Field(ge=1)] | None = None  # None: the rig's


def light_problems(data: Any) -> list[tuple[str, str]]:
    """(dotted path, message) per problem of a raw hardware config's ``light`` section:
    a site naming a missing source, two sources on one output, a light output the
    ``channels`` map does not map."""
    light = data.get("light") if isinstance(data, dict) else None
    if not isinstance(light, dict):
        return []
    sources: dict[Any, Any] = _mapping(light.get("sources"))
    sites: dict[Any, Any] = _mapping(light.get("sites"))
    problems = []
    for name, site in sites.items():
        source = site.get("source") if isinstance(site, dict) else None
        if isinstance(source, str) and source not in sources:
            known = ", ".join(sorted(map(str, sources))) or "none"
            problems.append((f"light.sites.{name}.source", f"no source {source!r} ({known})"))
    owners: dict[str, str] = {}
    channels = data.get("channels")
    device = data.get("device")
    kind = device.get("kind", "sim") if isinstance(device, dict) else "sim"
    for name, source in sources.items():
        output = source.get("output", "light_1") if isinstance(source, dict) else None
        if not isinstance(output, str):
            continue
        where = f"light.sources.{name}.output"
        if output in owners:
            problems.append((where, f"{output} already commands source {owners[output]!r}"))
        owners.setdefault(output, str(name))
        if kind == "lickport" and output != "light_1":
            problems.append((where, "the lick-port board has one light output (its DAC): light_1"))
        if isinstance(channels, dict) and output not in channels:
            problems.append((where, f"{output} is not in channels: map it to a device output"))
    masking = light.get("masking")
    if masking is not None and isinstance(channels, dict) and "masking_led" not in channels:
        problems.append(("light.masking", "masking_led is not in channels: map it"))
    return problems


def _mapping(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}
