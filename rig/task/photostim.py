"""Photoinhibition per trial: light or control, and for a light trial its site, window,
power and waveform (the protocol's ``photostim:``, :mod:`rig.schema.photostim`).

Who gets light:

- ``random`` (a fraction of trials): from curriculum step ``from_step`` on, past the step's first
  ``none_in_first`` trials, each trial with probability ``fraction``, except that after
  ``max_consecutive`` light trials in a row the next is a control trial;
- ``blocks``: from step ``from_step`` on, the step's trials in blocks of ``off_trials``
  control trials then ``on_trials`` light trials, again and again. The blocks count the
  step's trials (``trials_in_step``), so each step (each reversal) starts with an off block,
  and a session resumed in the middle of a step continues the block it was in.

A light trial draws its site and its window evenly from the protocol's; the power is the
site's; the command voltage comes from the site's source's calibration in the hardware
config, at the waveform's peak (:func:`rig.schema.photostim.source_peak_mw`).

Everything is pure: randomness from the ``random.Random`` passed in (give the selector a
generator of its own, so that adding light to a protocol does not change which sides a
seeded session draws), the curriculum position from the caller.

Use (the session runner, once per trial, before building it)::

    stim = PhotostimSelector(protocol.photostim, hardware, random.Random(seed))
    plan = stim.next_trial(step=tracker.step, trials_in_step=tracker.trials_in_step,
                           epoch_s={"sample": s.sample_s, "delay": spec.delay_s,
                                    "response": s.response_window_s})
    record["photostim"] = photostim_record(plan)   # None on a control trial
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rig.schema.hardware import HardwareConfig
from rig.schema.photostim import (
    BlockRule,
    Epoch,
    FractionRule,
    Photostim,
    photostim_problems,
    source_peak_mw,
)
from rig.schema.protocol import Protocol
from rig.task.builder import settings_for


@dataclass(frozen=True, slots=True)
class LightWindow:
    epoch: Epoch  # light starts start_s after this epoch's first onset in the trial
    start_s: float
    duration_s: float  # at full power; the ramp-down follows

    @property
    def end_s(self) -> float:
        """When the full-power light ends, from the epoch's onset (the ramp then starts)."""
        return self.start_s + self.duration_s


@dataclass(frozen=True, slots=True)
class LightTrial:
    """What one light trial gets: everything the device needs, in the lab's units."""

    source: str
    site: str
    window: LightWindow
    power_mw: float  # mean per spot (fibre), as a power meter reads it
    peak_mw: float  # what the source gives at the waveform's peak
    command_v: float  # the source's command at the peak, by its calibration
    waveform: str  # "sinusoid" or "constant"
    freq_hz: float | None  # a sinusoid's
    ramp_s: float  # the linear ramp-down after the window
    calibration_date: dt.date


def photostim_record(plan: LightTrial | None) -> dict[str, Any] | None:
    """The trial record's ``photostim`` field: None on a control trial."""
    if plan is None:
        return None
    w = plan.window
    return {
        "source": plan.source,
        "site": plan.site,
        "window": {"epoch": w.epoch, "start_s": w.start_s, "duration_s": w.duration_s},
        "power_mw": plan.power_mw,
        "peak_mw": plan.peak_mw,
        "command_v": plan.command_v,
        "waveform": plan.waveform,
        "freq_hz": plan.freq_hz,
        "ramp_s": plan.ramp_s,
        "calibration_date": plan.calibration_date.isoformat(),
    }


def light_due(
    rule: FractionRule | BlockRule,
    rng: random.Random,
    *,
    step: int,
    trials_in_step: int,
    light_run: int,
) -> bool:
    """Whether the next trial gets light. ``step``: the curriculum step, 0 the first (the
    context tracker's); ``trials_in_step``: trials already run in it; ``light_run``: light
    trials in a row just before this one. Draws from ``rng`` only in random mode, and
    only for a trial that may get light."""
    if step + 1 < rule.from_step:
        return False
    if isinstance(rule, BlockRule):
        return trials_in_step % (rule.off_trials + rule.on_trials) >= rule.off_trials
    if trials_in_step < rule.none_in_first or light_run >= rule.max_consecutive:
        return False
    return rng.random() < rule.fraction


def resolve_window(photostim: Photostim, index: int, epoch_s: Mapping[str, float]) -> LightWindow:
    """Window ``index`` with its duration: as given, or to the end of its epoch as this
    trial plans it (``epoch_s``: sample, delay, response, in s) less the ramp-down."""
    window = photostim.windows[index]
    if window.duration_s is not None:
        return LightWindow(window.epoch, window.start_s, window.duration_s)
    duration = epoch_s[window.epoch] - window.start_s - photostim.waveform.ramp_down_s
    if duration <= 0:
        raise ValueError(
            f"photostim.windows.{index}: the {window.epoch} epoch ({epoch_s[window.epoch]:g} s) "
            f"leaves no light after start_s ({window.start_s:g} s) and the ramp-down "
            f"({photostim.waveform.ramp_down_s:g} s)"
        )
    return LightWindow(window.epoch, window.start_s, duration)


def photostim_preflight(protocol: Protocol, hardware: HardwareConfig) -> list[str]:
    """The pre-flight check's lines for the protocol's light on this rig: what
    :func:`photostim_problems` finds (sites, powers within the calibrations, a masking LED),
    and each window that leaves no light in a curriculum step that may give light (a
    window to its epoch's end in a stage's short epoch). Empty: the rig can give it."""
    photostim = protocol.photostim
    if photostim is None:
        return []
    problems = [
        f"{where} of protocol {protocol.name!r}: {why}"
        for where, why in photostim_problems(photostim, hardware)
    ]
    labels = protocol.step_labels()
    for i, step in enumerate(protocol.curriculum):
        if i + 1 < photostim.trials.from_step:
            continue
        s = settings_for(protocol, step.stage)
        epoch_s = {"sample": s.sample_s, "delay": s.delay_s, "response": s.response_window_s}
        for index in range(len(photostim.windows)):
            try:
                resolve_window(photostim, index, epoch_s)
            except ValueError as exc:
                problems.append(f"curriculum step {i + 1} ({labels[i]}): {exc}")
    return problems


class PhotostimSelector:
    """Decides light or control trial after trial; remembers the light trials in a row.

    ``light_run``: light trials in a row that ended the previous session (a resumed session
    gives it from its last trial records; 0 for a new one)."""

    def __init__(
        self,
        photostim: Photostim,
        hardware: HardwareConfig,
        rng: random.Random,
        light_run: int = 0,
    ) -> None:
        if hardware.light is None:
            raise ValueError(f"rig {hardware.name!r} has no light (hardware config light:)")
        self.photostim, self.hardware, self.rng = photostim, hardware, rng
        self.light = hardware.light
        self.light_run = light_run
        self.sites = sorted(photostim.sites)

    def next_trial(
        self, *, step: int, trials_in_step: int, epoch_s: Mapping[str, float]
    ) -> LightTrial | None:
        """The next trial's light (None: a control trial). Raises ``ValueError`` when a
        site or power is one the rig cannot give (the pre-flight check finds these first)."""
        due = light_due(
            self.photostim.trials,
            self.rng,
            step=step,
            trials_in_step=trials_in_step,
            light_run=self.light_run,
        )
        if not due:
            self.light_run = 0
            return None
        site = self.rng.choice(self.sites)
        index = self.rng.randrange(len(self.photostim.windows))
        plan = self.plan(site, resolve_window(self.photostim, index, epoch_s))
        self.light_run += 1
        return plan

    def plan(self, site: str, window: LightWindow) -> LightTrial:
        """A light trial at ``site`` in ``window`` (for a test pulse or a replay as well)."""
        if site not in self.light.sites:
            raise ValueError(f"rig {self.hardware.name!r} has no light site {site!r}")
        source_name = self.light.sites[site].source
        calibration = self.light.sources[source_name].calibration
        peak = source_peak_mw(self.photostim, self.hardware, site)
        waveform = self.photostim.waveform
        return LightTrial(
            source=source_name,
            site=site,
            window=window,
            power_mw=self.photostim.sites[site].power_mw,
            peak_mw=peak,
            command_v=calibration.volts_for(peak),
            waveform=waveform.shape,
            freq_hz=waveform.freq_hz if waveform.shape == "sinusoid" else None,
            ramp_s=waveform.ramp_down_s,
            calibration_date=calibration.date,
        )
