"""Hardware configs (one YAML per rig) as pydantic models.

A hardware config names the rig's devices by URL, maps the rig-neutral channel names that
protocols speak (``lick_left``, ``valve_right``, ``go_cue``, ...) to the device's own
channel names, holds each valve's dated calibration (open time -> volume) and the light's
(``light:``, :mod:`rig.schema.light`: command volts -> mW), and says where the data go.
``sim.yaml`` describes the simulated rig.
"""

from __future__ import annotations

import datetime as dt
import re
from bisect import bisect_left
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from rig.schema.base import CrossChecked, Strict, both_increasing
from rig.schema.light import LIGHT_CHANNELS, Light, light_problems

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
# the light's outputs (rig.schema.light) are channels of their own: OUTPUT_CHANNELS are the
# outputs a trial's state machine may set today (and the lick-port board's wire codes)
CHANNELS = INPUT_CHANNELS + OUTPUT_CHANNELS + LIGHT_CHANNELS
Valve = Literal["valve_left", "valve_right"]
VALVE_FOR_SIDE: dict[str, Valve] = {"left": "valve_left", "right": "valve_right"}
# A Bpod's lines as Sanworks names them, numbered up to the largest Bpod's count (which
# ones a Bpod has is known once it is connected: the Bpod compiler checks that).
BPOD_INPUTS = {"Port": 8, "BNC": 2, "Wire": 4, "Flex": 4}
BPOD_OUTPUTS = {"Valve": 8, "PWM": 8, "BNC": 2, "Wire": 4, "Flex": 4}
# a light source's command on a Bpod: a channel of an Analog Output Module with the
# WavePlayer firmware (WavePlayer1:2 is module 1's channel 2), or a TTL/Flex line
WAVEPLAYER_CHANNEL = re.compile(r"WavePlayer([1-9]):([1-8])")


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
        both_increasing([(p.open_s, p.volume_ul) for p in self.points], "open times and volumes")
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

    @property
    def simulated(self) -> bool:
        """Whether the outputs (valves, light) are part of a simulation: the simulated rig,
        or an emulated Bpod or lick-port board (``emulate://``), whose water and light are
        what the calibrations say. A Bpod or board on a port (``serial://``) is real."""
        return self.kind == "sim" or self.url.startswith("emulate://")

    @property
    def simulated_valves(self) -> bool:
        return self.simulated


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
    # fake only: the ScanImage release whose files it writes (rig.sim.scanimage); the old
    # names 2016+, 5 and 3 stand for 2022.1.0, 5.7 and 3.8
    version: Literal["2016+", "5", "3", "3.8", "4.2", "5.0", "5.1", "2016b", "2019b", "5.7",
                     "2022.1.0"] = "2016+"  # fmt: skip
    flyback_frames: Annotated[int, Field(ge=0, le=100)] = 0  # fake only: per volume (a stack)
    averaging: Annotated[int, Field(ge=1, le=1000)] = 1  # fake only: planar only
    outage: tuple[float, float] | None = None  # fake only: device seconds with no frames

    @model_validator(mode="after")
    def _a_layout_scanimage_writes(self) -> Scope:
        if self.flyback_frames and self.planes == 1:
            raise ValueError("flyback_frames needs a stack (planes > 1)")
        if self.averaging > 1 and self.planes > 1:
            raise ValueError("averaging is for planar imaging (planes: 1)")
        if self.flyback_frames and self.version in ("3", "3.8"):
            raise ValueError("ScanImage 3.x has no fast z: no flyback frames")
        return self


def channel_problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    """(dotted path, message) per problem of a raw hardware config's ``channels`` for its
    ``device.kind``: a device channel the kind has no such name for (a Bpod's: by its form
    only), two rig channels on one device channel (two inputs may share one only when
    ``shared_inputs`` lists them together; outputs never), a ``shared_inputs`` group that
    does not share one device input."""
    device = data.get("device", {})
    kind = device.get("kind", "sim") if isinstance(device, dict) else None
    channels = data.get("channels")
    if channels is None and kind == "bpod":
        return [("device.kind", "a Bpod needs its channels mapped (lick_left: Port1, ...)")]
    if kind not in ("sim", "bpod", "lickport") or not isinstance(channels, dict):
        return []
    mapped = {n: d for n, d in channels.items() if n in CHANNELS and isinstance(d, str)}
    unknown = {n: m for n, d in mapped.items() if (m := _unknown_name(kind, n, d))}
    good = {n: d for n, d in mapped.items() if n not in unknown}
    raw = data.get("shared_inputs")
    groups: list[Any] = raw if isinstance(raw, list) else []
    problems = [(f"channels.{n}", message) for n, message in unknown.items()]
    problems += _shared_channels(good, [g for g in groups if isinstance(g, list)])
    return problems + _group_problems(mapped, groups)


def _unknown_name(kind: str, name: str, device: str) -> str | None:
    """Why ``device`` is not a channel a device of ``kind`` has for rig channel ``name``."""
    if kind != "bpod":
        where = "simulated rig" if kind == "sim" else "lick-port board (its pins are fixed)"
        message = f"the {where} names its channels as the protocols do: map {name} to {name}"
        return None if device == name else message
    lines, what = (BPOD_INPUTS, "input") if name in INPUT_CHANNELS else (BPOD_OUTPUTS, "output")
    if name in ("light_1", "light_2") and WAVEPLAYER_CHANNEL.fullmatch(device):
        return None
    form = re.fullmatch(r"([A-Za-z]+)([1-9][0-9]?)", device)
    if form and int(form[2]) <= lines.get(form[1], 0):
        return None
    known = ", ".join(f"{base}1..{base}{n}" for base, n in lines.items())
    if name in ("light_1", "light_2"):
        known += ", or an Analog Output Module channel, WavePlayer1:1..WavePlayer9:8"
    return f"{device!r} is not a Bpod {what} line ({known})"


def _shared_channels(good: dict[str, str], groups: list[list[Any]]) -> list[tuple[str, str]]:
    """A problem at each rig channel on a device channel that another one already has."""
    on: dict[tuple[bool, str], list[str]] = {}
    for name, device in good.items():
        on.setdefault((name in INPUT_CHANNELS, device), []).append(name)
    problems = []
    for (is_input, device), names in on.items():
        if len(names) < 2 or (is_input and any(set(names) <= set(g) for g in groups)):
            continue
        owner = next((n for n in names if n in VALVE_FOR_SIDE.values()), names[0])
        rule = "rig outputs never share a device output"
        if is_input:
            rule = "rig inputs share a device input only when shared_inputs lists them together"
        problems += [
            (f"channels.{n}", f"{device} is already {owner}'s (channels.{owner}): {rule}")
            for n in names
            if n != owner
        ]
    return problems


def _group_problems(mapped: dict[str, str], groups: list[Any]) -> list[tuple[str, str]]:
    problems = []
    seen: dict[str, int] = {}
    for i, group in enumerate(groups):
        if not isinstance(group, list) or not all(isinstance(n, str) for n in group):
            continue  # a field error
        for j, name in enumerate(group):
            if name not in INPUT_CHANNELS:
                inputs = ", ".join(INPUT_CHANNELS)
                problems.append((f"shared_inputs.{i}.{j}", f"not an input (inputs: {inputs})"))
            elif name in seen:
                problems.append((f"shared_inputs.{i}.{j}", f"{name} is in group {seen[name]}"))
            seen.setdefault(name, i)
        devices = {mapped.get(n) for n in group if n in INPUT_CHANNELS}
        if len(devices) > 1 or None in devices:
            on = ", ".join(f"{n} on {mapped.get(n, 'nothing')}" for n in group)
            problems.append((f"shared_inputs.{i}", f"{on}: a group shares one device input"))
    return problems


class HardwareConfig(CrossChecked):
    name: str
    description: str = ""
    device: Device = Device()
    channels: dict[str, str] = {name: name for name in CHANNELS}
    # groups of rig inputs allowed to share one device input (Bpod: one event for both)
    shared_inputs: list[Annotated[list[str], Field(min_length=2)]] = []
    valves: dict[Valve, ValveCalibration]
    data_dir: Path = Path("~/rig-data")
    # where this rig's controller (`rig serve`, started by `rig gui`) listens: one per rig;
    # rigs that share a PC need ports of their own (events on the port after it)
    controller_endpoint: Annotated[str, Field(pattern=r"^(tcp://\S+:\d+|ipc://\S+)$")] = (
        "tcp://127.0.0.1:5555"
    )
    calibration_max_age_days: Annotated[int, Field(ge=1)] = 30
    simulated_mouse: SimulatedMouse = SimulatedMouse()
    lickport: Lickport = Lickport()
    scope: Scope = Scope()
    require_scope: bool = False  # refuse to start a session without the microscope
    light: Light | None = None  # photoinhibition light (rig.schema.light); None: no light

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
        return problems + channel_problems(data) + light_problems(data)

    def stale_calibrations(self, today: dt.date) -> list[str]:
        """A warning per valve whose calibration is older than ``calibration_max_age_days``
        (or dated in the future: a typo, or a wrong clock), and per spot check that drifted.
        Simulated valves (:attr:`Device.simulated_valves`) deliver what their calibration
        says whatever its date: their calibration is never stale."""
        warnings = []
        for valve, cal in sorted(self.valves.items()):
            if not self.device.simulated_valves:
                warnings += self._age_warnings(valve, cal, today)
            check = cal.spot_check
            if check is not None and abs(check.drift_percent) > SPOT_CHECK_TOLERANCE_PERCENT:
                warnings.append(
                    f"{valve}'s spot check on {check.date} measured {check.measured_ul:.2f} uL "
                    f"per opening of {check.open_s} s, {check.drift_percent:+.0f} % from the "
                    f"calibration's {check.expected_ul:.2f} uL; recalibrate it "
                    f"(limit: {SPOT_CHECK_TOLERANCE_PERCENT:.0f} %)"
                )
        return warnings

    def _age_warnings(self, valve: str, cal: ValveCalibration, today: dt.date) -> list[str]:
        age = (today - cal.date).days
        if age > self.calibration_max_age_days:
            return [
                f"{valve} was calibrated {age} days ago ({cal.date}); "
                f"recalibrate it (limit: {self.calibration_max_age_days} days)"
            ]
        if age < 0:
            return [f"{valve}'s calibration is dated in the future ({cal.date})"]
        return []

    def stale_light_calibrations(self, today: dt.date) -> list[str]:
        """A warning per light source whose power calibration is older than the light's
        ``calibration_max_age_days`` (default: the rig's) or dated in the future; never for a
        simulated rig's light (:attr:`Device.simulated`)."""
        if self.light is None or self.device.simulated:
            return []
        limit = self.light.calibration_max_age_days or self.calibration_max_age_days
        warnings = []
        for name, source in sorted(self.light.sources.items()):
            date = source.calibration.date
            age = (today - date).days
            if age > limit:
                warnings.append(
                    f"light source {name}'s power was calibrated {age} days ago ({date}); "
                    f"measure it again (limit: {limit} days)"
                )
            elif age < 0:
                warnings.append(
                    f"light source {name}'s calibration is dated in the future ({date})"
                )
        return warnings

    def delivered_ul(self, side: str, open_s: float) -> float:
        """The volume one opening of ``open_s`` delivers on ``side``, by the calibration."""
        return self.valve(side).volume_ul(open_s)

    def valve(self, side: str) -> ValveCalibration:
        return self.valves[VALVE_FOR_SIDE[side]]
