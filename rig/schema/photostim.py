"""The protocol's ``photostim:`` section: which trials get light, where, when, how much.

Absent, a protocol gives no light. Present, it names sites of the rig's hardware config
(``light.sites``: the hardware config says which source, output and calibration serve a
site), with a power per site; the windows a light trial may use; the waveform; which
trials get light (a fraction with a cap on light trials in a row and none in a step's first
trials, or blocks of trials off and on); the masking flash (every trial, light and control
alike); and what an early lick that restarts the sample or delay does to a running window.

Power is the *mean* power per spot, as a power meter reads it at the skull: a sinusoid from
0 to its peak averages half its peak, so its peak is twice the mean; a galvo site of n
spots asks n times the per-spot power of its source (:func:`source_peak_mw`).

:func:`photostim_problems` checks a protocol against a hardware config (sites it has, powers
within the source's calibration, a masking LED); ``rig validate`` runs it on each protocol
and hardware config given together, the pre-flight check on the session's pair.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, model_validator

from rig.schema.base import Strict
from rig.schema.loader import located_errors

if TYPE_CHECKING:
    from rig.schema.hardware import HardwareConfig

Epoch = Literal["sample", "delay", "response"]
MAX_LIGHT_S = 10.0  # one window's light; longer is a typo (IBL's ceiling is 6 s)


class Window(Strict):
    """When light is on: from ``start_s`` after the onset of ``epoch`` (its *first* onset
    in the trial: see ``Photostim.early_lick``), at full power for ``duration_s``, then the
    waveform's ramp-down. ``duration_s`` absent: to the end of the epoch as the trial
    planned it, less the ramp (the paper: 1.2 s + 0.1 s ramp in a 1.3 s epoch)."""

    epoch: Epoch
    start_s: Annotated[float, Field(ge=0, le=MAX_LIGHT_S)] = 0.0
    duration_s: Annotated[float, Field(gt=0, le=MAX_LIGHT_S)] | None = None


class Waveform(Strict):
    """``sinusoid``: 0 to peak at ``freq_hz``, starting at its peak (as the Autocage and
    the Bpod protocols do); ``constant``: a step. Either ends with a linear ramp-down."""

    shape: Literal["constant", "sinusoid"] = "sinusoid"
    freq_hz: Annotated[float, Field(gt=0, le=1000)] = 40.0
    ramp_down_s: Annotated[float, Field(ge=0, le=2)] = 0.1

    @model_validator(mode="after")
    def _frequency_of_a_sinusoid(self) -> Waveform:
        if self.shape == "constant" and "freq_hz" in self.model_fields_set:
            raise located_errors([("freq_hz", "only a sinusoid has a frequency")])
        return self

    @property
    def peak_to_mean(self) -> float:
        return 2.0 if self.shape == "sinusoid" else 1.0


class SitePower(Strict):
    power_mw: Annotated[float, Field(gt=0, le=100)]  # mean, per spot


class FractionRule(Strict):
    """``mode: random``: each trial gets light with probability ``fraction``, never more than
    ``max_consecutive`` light trials in a row, none in a curriculum step's first
    ``none_in_first`` trials, none before step ``from_step`` (1 is the first)."""

    mode: Literal["random"]  # not "fraction": a union's tag must not be a field's name
    fraction: Annotated[float, Field(gt=0, le=1)]
    max_consecutive: Annotated[int, Field(ge=1)] = 3
    none_in_first: Annotated[int, Field(ge=0)] = 0
    from_step: Annotated[int, Field(ge=1)] = 1


class BlockRule(Strict):
    """``mode: blocks``: from curriculum step ``from_step`` (1 is the first) on,
    ``off_trials`` trials without light, then ``on_trials`` with light on every trial, and
    again; counted in the step's trials, so each step (each reversal) starts off."""

    mode: Literal["blocks"]
    off_trials: Annotated[int, Field(ge=1)] = 100
    on_trials: Annotated[int, Field(ge=1)] = 100
    from_step: Annotated[int, Field(ge=1)] = 1


class MaskingFlash(Strict):
    """The masking light: ``flash_s`` flashes at ``freq_hz`` through every trial (from the
    trial's start to its end), light and control trials alike, so that the mouse cannot tell
    them apart by what it sees."""

    enabled: bool = True
    freq_hz: Annotated[float, Field(gt=0, le=100)] = 10.0
    flash_s: Annotated[float, Field(gt=0, le=1)] = 0.001

    @model_validator(mode="after")
    def _flash_within_period(self) -> MaskingFlash:
        if self.flash_s >= 1.0 / self.freq_hz:
            raise located_errors(
                [("flash_s", f"must be shorter than 1/freq_hz ({1 / self.freq_hz:g} s)")]
            )
        return self


class Photostim(Strict):
    sites: dict[str, SitePower] = Field(min_length=1)  # a light trial draws one, evenly
    windows: list[Window] = Field(min_length=1)  # a light trial draws one, evenly
    waveform: Waveform = Waveform()
    trials: Annotated[FractionRule | BlockRule, Field(discriminator="mode")]
    masking: MaskingFlash = MaskingFlash()
    # an early lick that restarts the sample or delay: run_on, the window keeps the times
    # it had from its epoch's first onset (never restarted, never longer); ramp_down, the
    # lick starts the ramp-down at once
    early_lick: Literal["run_on", "ramp_down"] = "run_on"


def step_problems(data: Any) -> list[tuple[str, str]]:
    """A raw protocol's ``photostim.trials.from_step`` past its curriculum."""
    photostim = data.get("photostim") if isinstance(data, dict) else None
    trials = photostim.get("trials") if isinstance(photostim, dict) else None
    step = trials.get("from_step") if isinstance(trials, dict) else None
    curriculum = data.get("curriculum") if isinstance(data, dict) else None
    if isinstance(step, int) and isinstance(curriculum, list) and step > len(curriculum):
        return [
            (
                "photostim.trials.from_step",
                f"step {step} does not exist (the curriculum has {len(curriculum)})",
            )
        ]
    return []


def source_peak_mw(photostim: Photostim, hardware: HardwareConfig, site: str) -> float:
    """The power the site's source gives at the waveform's peak for the site's power."""
    assert hardware.light is not None
    mean = photostim.sites[site].power_mw
    return hardware.light.sites[site].source_mw(mean) * photostim.waveform.peak_to_mean


def photostim_problems(photostim: Photostim, hardware: HardwareConfig) -> list[tuple[str, str]]:
    """(dotted path in the protocol, message) per thing the rig cannot give: a site it has
    not, a power outside the source's calibrated powers, a masking flash without an LED."""
    rig = f"rig {hardware.name!r}"
    light = hardware.light
    if light is None:
        return [("photostim", f"{rig} has no light (its hardware config has no light: section)")]
    problems = []
    for name, site in photostim.sites.items():
        if name not in light.sites:
            known = ", ".join(sorted(light.sites))
            problems.append((f"photostim.sites.{name}", f"{rig} has no site {name!r} ({known})"))
            continue
        source_name = light.sites[name].source
        calibration = light.sources[source_name].calibration
        peak = source_peak_mw(photostim, hardware, name)
        low, high = calibration.range_mw
        if not low - 1e-9 <= peak <= high + 1e-9:
            share = light.sites[name].source_mw(1.0)
            how = f"{site.power_mw:g} mW mean x {share:g} (spots, fibres)"
            if photostim.waveform.shape == "sinusoid":
                how += " x 2 (a sinusoid's peak)"
            problems.append(
                (
                    f"photostim.sites.{name}.power_mw",
                    f"{how} = {peak:g} mW from source {source_name!r} of {rig}, outside its "
                    f"calibrated powers ({low:g}-{high:g} mW, measured {calibration.date}): "
                    "calibrate it over that power, or lower it",
                )
            )
    if photostim.masking.enabled and light.masking is None:
        problems.append(
            ("photostim.masking", f"{rig} has no masking LED (light.masking); or enabled: false")
        )
    return problems
