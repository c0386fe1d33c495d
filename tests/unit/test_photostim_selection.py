"""Which trials get light, over seeded runs: the fraction within tolerance, never more
than the cap in a row, none in a step's first trials or before its first step; blocks that
alternate and start off again at each switch (driven by the real context tracker); what a
light trial's record holds, with the power through the rig's calibration."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from rig.schema import HardwareConfig, Protocol, load_model
from rig.schema.photostim import BlockRule, FractionRule, Photostim
from rig.task.context import ContextTracker
from rig.task.photostim import (
    LightWindow,
    PhotostimSelector,
    light_due,
    photostim_preflight,
    photostim_record,
    resolve_window,
)

EPOCHS = {"sample": 1.3, "delay": 1.3, "response": 4.0}


@pytest.fixture(scope="module")
def sim(root: Path) -> HardwareConfig:
    return load_model(root / "hardware_configs/sim.yaml", HardwareConfig)


def _photostim(root: Path, name: str) -> Photostim:
    photostim = load_model(root / "protocols" / name, Protocol).photostim
    assert photostim is not None
    return photostim


def _fraction(**rule: object) -> FractionRule:
    return FractionRule.model_validate({"mode": "random", **rule})


def _run(rule: FractionRule | BlockRule, seed: int, steps: list[int]) -> list[bool]:
    """Light or not for each trial; ``steps``: how many trials each step runs."""
    rng, light_run, out = random.Random(seed), 0, []
    for step, trials in enumerate(steps):
        for n in range(trials):
            due = light_due(rule, rng, step=step, trials_in_step=n, light_run=light_run)
            light_run = light_run + 1 if due else 0
            out.append(due)
    return out


def _longest_run(lights: list[bool]) -> int:
    longest = run = 0
    for light in lights:
        run = run + 1 if light else 0
        longest = max(longest, run)
    return longest


@pytest.mark.parametrize("fraction", [0.15, 0.25])
def test_the_fraction_over_seeded_runs(fraction: float) -> None:
    rule = _fraction(fraction=fraction, max_consecutive=3, none_in_first=20)
    shares = []
    for seed in range(20):
        lights = _run(rule, seed, [520])
        assert not any(lights[:20])  # none in the step's first 20
        assert _longest_run(lights) <= 3
        shares.append(sum(lights[20:]) / 500)
    assert sum(shares) / len(shares) == pytest.approx(fraction, abs=0.01)
    assert all(abs(s - fraction) < 0.07 for s in shares)  # about 4 binomial SDs at 500 trials


@pytest.mark.parametrize("cap", [1, 2])
def test_the_cap_holds_when_it_binds(cap: int) -> None:
    rule = _fraction(fraction=0.9, max_consecutive=cap)
    for seed in range(10):
        lights = _run(rule, seed, [400])
        assert _longest_run(lights) == cap  # reached, never exceeded
        assert sum(lights) / 400 > 0.4  # the cap, not the fraction, limits it


def test_none_in_the_first_trials_of_every_step_and_none_before_from_step() -> None:
    rule = _fraction(fraction=1.0, max_consecutive=1000, none_in_first=10, from_step=2)
    lights = _run(rule, 0, [50, 30, 30])
    assert lights[:50] == [False] * 50  # step 1: before from_step
    assert lights[50:60] == [False] * 10 and all(lights[60:80])  # step 2
    assert lights[80:90] == [False] * 10 and all(lights[90:110])  # step 3: again first 10 off


def test_the_same_seed_gives_the_same_trials_and_another_seed_others() -> None:
    rule = _fraction(fraction=0.25, max_consecutive=3)
    assert _run(rule, 7, [300]) == _run(rule, 7, [300])
    assert _run(rule, 7, [300]) != _run(rule, 8, [300])


def test_blocks_alternate_and_draw_nothing() -> None:
    rule = BlockRule(mode="blocks", off_trials=100, on_trials=100, from_step=1)
    rng = random.Random(0)
    state = rng.getstate()
    lights = [light_due(rule, rng, step=0, trials_in_step=n, light_run=0) for n in range(500)]
    assert lights == ([False] * 100 + [True] * 100) * 2 + [False] * 100
    assert rng.getstate() == state


def test_the_papers_blocks_through_the_context_tracker(root: Path, sim: HardwareConfig) -> None:
    """T1 -> T2 -> T1' -> T2' -> A1: no light before T2' (the 3rd reversal); in T2', 100
    off then 100 on, ...; a switch to A1 in the middle of an on block starts A1 off."""
    protocol = load_model(root / "protocols/photoinhibition.yaml", Protocol)
    assert protocol.photostim is not None
    tracker = ContextTracker(protocol)
    selector = PhotostimSelector(protocol.photostim, sim, random.Random(3))
    by_step: dict[str, list[bool]] = {}
    for trials in (150, 150, 150, 350, 250):
        label = tracker.label
        for _ in range(trials):
            plan = selector.next_trial(
                step=tracker.step, trials_in_step=tracker.trials_in_step, epoch_s=EPOCHS
            )
            by_step.setdefault(label, []).append(plan is not None)
            assert tracker.record("no_response", False) is None  # only switches move it
        tracker.switch("next context")
    assert by_step.keys() == {"T1", "T2", "T1'", "T2'", "A1"}
    assert not any(by_step["T1"] + by_step["T2"] + by_step["T1'"])
    off, on = [False] * 100, [True] * 100
    assert by_step["T2'"] == off + on + off + on[:50]  # switched in an on block
    assert by_step["A1"] == off + on + off[:50]  # ... and A1 starts off


def test_a_light_trials_record(root: Path, sim: HardwareConfig) -> None:
    photostim = _photostim(root, "photoinhibition_fraction.yaml")
    selector = PhotostimSelector(photostim, sim, random.Random(1))
    plans = [selector.next_trial(step=0, trials_in_step=n, epoch_s=EPOCHS) for n in range(2000)]
    lit = [p for p in plans if p is not None]
    assert photostim_record(None) is None
    record = photostim_record(lit[0])
    assert record is not None
    assert record.pop("window")["duration_s"] == 1.2
    assert record.pop("command_v") == pytest.approx(2.0 + 0.6 / 5.8)  # 6 mW on sim's laser
    assert record == {
        "source": "laser",
        "site": "bilateral_ALM",
        "power_mw": 1.5,
        "peak_mw": 6.0,  # 1.5 mW at each of 2 spots, a sinusoid's peak twice its mean
        "waveform": "sinusoid",
        "freq_hz": 40.0,
        "ramp_s": 0.1,
        "calibration_date": "2026-11-02",
    }
    epochs = Counter(p.window.epoch for p in lit)
    assert set(epochs) == {"sample", "delay", "response"}
    assert all(abs(n / len(lit) - 1 / 3) < 0.06 for n in epochs.values())


def test_sites_are_drawn_evenly(root: Path, sim: HardwareConfig) -> None:
    photostim = _photostim(root, "photoinhibition_fraction.yaml")
    two = {"left_ALM": {"power_mw": 2.0}, "right_ALM": {"power_mw": 3.0}}
    photostim = Photostim.model_validate({**photostim.model_dump(), "sites": two})
    selector = PhotostimSelector(photostim, sim, random.Random(5))
    lit = [
        p
        for n in range(3000)
        if (p := selector.next_trial(step=0, trials_in_step=n, epoch_s=EPOCHS)) is not None
    ]
    sites = Counter(p.site for p in lit)
    assert abs(sites["left_ALM"] / len(lit) - 0.5) < 0.05
    assert {p.site: p.peak_mw for p in lit} == {"left_ALM": 4.0, "right_ALM": 6.0}  # one spot


def test_a_window_to_the_end_of_its_epoch(root: Path) -> None:
    photostim = _photostim(root, "photoinhibition.yaml")
    windows = [{"epoch": "delay"}, {"epoch": "sample", "start_s": 0.5}]
    photostim = Photostim.model_validate({**photostim.model_dump(), "windows": windows})
    assert resolve_window(photostim, 0, EPOCHS) == LightWindow("delay", 0.0, pytest.approx(1.2))
    assert resolve_window(photostim, 1, {**EPOCHS, "sample": 2.0}).duration_s == (
        pytest.approx(1.4)
    )  # a stage's longer sample: this trial's epoch
    with pytest.raises(ValueError, match=r"photostim.windows.1: the sample epoch \(0.6 s\)"):
        resolve_window(photostim, 1, {**EPOCHS, "sample": 0.6})


def test_a_rig_without_light_or_the_site_is_refused(root: Path, sim: HardwareConfig) -> None:
    photostim = _photostim(root, "photoinhibition.yaml")
    with pytest.raises(ValueError, match="rig 'sim' has no light"):
        PhotostimSelector(photostim, sim.model_copy(update={"light": None}), random.Random(0))
    selector = PhotostimSelector(photostim, sim, random.Random(0))
    with pytest.raises(ValueError, match="no light site 'left_PFC'"):
        selector.plan("left_PFC", LightWindow("delay", 0.0, 1.2))


def test_a_resumed_run_continues_the_cap() -> None:
    rule = _fraction(fraction=1.0, max_consecutive=3)
    rng = random.Random(0)
    assert not light_due(rule, rng, step=0, trials_in_step=50, light_run=3)
    assert light_due(rule, rng, step=0, trials_in_step=50, light_run=2)


def test_the_preflight_lines(root: Path, sim: HardwareConfig) -> None:
    protocol = load_model(root / "protocols/photoinhibition_fraction.yaml", Protocol)
    assert photostim_preflight(protocol, sim) == []
    assert protocol.photostim is not None
    windows = [{"epoch": "delay"}]
    photostim = {**protocol.photostim.model_dump(), "windows": windows}
    short = Protocol.model_validate(
        {
            **protocol.model_dump(),
            "photostim": photostim,
            "stages": {"short": {"delay_s": 0.05}},
            "curriculum": [{"context": "T1", "stage": "short"}],
        }
    )
    assert photostim_preflight(short, sim) == [
        "curriculum step 1 (T1): photostim.windows.0: the delay epoch (0.05 s) leaves no light "
        "after start_s (0 s) and the ramp-down (0.1 s)"
    ]
    (line,) = photostim_preflight(protocol, sim.model_copy(update={"light": None}))
    assert line.startswith("photostim of protocol 'photoinhibition_fraction': rig 'sim' has no")
