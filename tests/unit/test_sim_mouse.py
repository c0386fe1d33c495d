"""The simulated mouse: it learns from water, keeps what it learned, and licks like a mouse."""

from __future__ import annotations

import itertools
import json
import random
from statistics import median

from rig.sim.brain import Brain
from rig.sim.mouse import Mouse

T1 = {"pole100": "right", "pole30": "left"}
T2 = {"pole100": "left", "pole30": "right"}


def _train(brain: Brain, mapping: dict[str, str], trials: int, rng: random.Random) -> float:
    """Trains on the mapping; returns the fraction correct over the last 100 trials."""
    correct = []
    for _ in range(trials):
        stimulus = rng.choice(sorted(mapping))
        choice = "right" if rng.random() < brain.p_right(stimulus) else "left"
        correct.append(choice == mapping[stimulus])
        brain.learn(stimulus, mapping[stimulus])
    return sum(correct[-100:]) / 100


def test_learning_a_mapping_from_reward() -> None:
    rng = random.Random(0)
    brain = Brain.new(rng, T1, 0.1)
    before = brain.p_right("pole100")
    assert _train(brain, T1, 800, rng) > 0.8
    assert brain.p_right("pole100") > before > 0.5


def test_reversal_is_slow_at_first_and_a_return_is_fast() -> None:
    rng = random.Random(1)
    brain = Brain.new(rng, T1, 0.1)
    _train(brain, T1, 800, rng)
    first_100_of_reversal = _train(brain, T2, 100, rng)
    assert first_100_of_reversal < 0.5  # the old mapping interferes: below chance at first
    _train(brain, T2, 1200, rng)
    assert len(brain.memories) >= 2  # the reversal was learned as a new memory
    assert _train(brain, T1, 300, rng) > 0.75  # the old memory comes back


def test_brain_round_trips_through_json() -> None:
    rng = random.Random(2)
    brain = Brain.new(rng, T1, 0.2)
    _train(brain, T1, 50, rng)
    again = Brain.from_json(json.loads(json.dumps(brain.to_json())))
    assert again == brain


def _response_licks(seed: int) -> list[tuple[float, str, int]]:
    mouse = Mouse(Brain.new(random.Random(seed), T1, 0.9), random.Random(seed))
    mouse.observe(0.0, "pole_position", 100, None)
    mouse.observe(0.0, "pole_drop", 1, None)
    mouse.observe(2.6, "go_cue", 1, 3700.0)
    actions = []
    while (t := mouse.next_time()) is not None and t < 20:
        actions += [(t, ch, level) for ch, level in mouse.act(t)]
    return actions


def test_licks_come_in_bouts_after_the_go_cue() -> None:
    onsets = [t for seed in range(30) for t, _, level in _response_licks(seed) if level and t > 2.6]
    assert onsets
    intervals = []
    for seed in range(30):
        times = [t for t, _, level in _response_licks(seed) if level and t > 2.6]
        intervals += [b - a for a, b in itertools.pairwise(times)]
    assert 0.11 < median(intervals) < 0.17  # about 7 licks a second
    latencies = [
        next(t for t, _, level in _response_licks(seed) if level and t > 2.6) - 2.6
        for seed in range(30)
    ]
    assert 0.1 < median(latencies) < 0.4


def test_every_touch_is_released() -> None:
    for seed in range(10):
        level = {"lick_left": 0, "lick_right": 0}
        for _, channel, new in _response_licks(seed):
            assert new != level[channel]  # alternates on, off, on, ...
            level[channel] = new
        assert level == {"lick_left": 0, "lick_right": 0}
