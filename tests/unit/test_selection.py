"""Property tests for rig.task.selection.TrialSelector.

The selector is fed back arbitrary outcomes (drawn by hypothesis after seeing each side, so
the feedback may be adversarial) and checked against naive re-implementations of the rules
documented in the module: max-same-in-a-row, autolearn's repeat, the anti-bias formula,
starved-side forcing and the free-drop rule.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rig.schema.protocol import FreeDrop, TrialSelection
from rig.task.selection import Past, TrialSelector
from rig.task.spec import Outcome, Side, other_side

OUTCOMES: tuple[Outcome, ...] = ("hit", "error", "no_response")

seeds = st.integers(min_value=0, max_value=2**32 - 1)
outcomes = st.sampled_from(OUTCOMES)
selections = st.builds(
    TrialSelection,
    mode=st.sampled_from(["random", "antibias", "autolearn"]),
    max_same=st.integers(min_value=1, max_value=5),
    antibias_window=st.integers(min_value=1, max_value=40),
    min_correct_of_last=st.integers(min_value=1, max_value=8),
)
free_drops = st.builds(
    FreeDrop,
    enabled=st.booleans(),
    after_unrewarded=st.integers(min_value=1, max_value=5),
    min_trials_between=st.integers(min_value=0, max_value=6),
)


def run(
    selection: TrialSelection,
    free_drop: FreeDrop,
    seed: int,
    feedback: Callable[[int, Side], Outcome],
    n: int,
    check: Callable[[TrialSelector, Side, bool], None] | None = None,
) -> list[tuple[Side, Outcome, bool]]:
    """Run ``n`` trials; ``check(selector_before, side, free_drop)`` sees every draw."""
    selector = TrialSelector(selection, free_drop, random.Random(seed))
    trials = []
    for i in range(n):
        side = selector.next_side()
        due = selector.free_drop_due(side)
        if check is not None:
            check(selector, side, due)
        outcome = feedback(i, side)
        selector.record(side, outcome, due)
        trials.append((side, outcome, due))
    return trials


def longest_run(sides: list[Side]) -> int:
    best = run_length = 0
    previous = None
    for side in sides:
        run_length = run_length + 1 if side == previous else 1
        previous = side
        best = max(best, run_length)
    return best


# -- naive re-implementations of the documented rules -----------------------------------------


def naive_p_left(history: list[Past], window: int) -> float:
    """p(left) = 1/2 (share of hits that were right trials + share of errors that were left).

    Over the last ``window`` responded trials; an empty share counts 1/2 (no information).
    """
    responded = [p for p in history if p.outcome in ("hit", "error")]
    recent = responded[len(responded) - window :] if len(responded) > window else responded
    n_hits = n_hits_right = n_errors = n_errors_left = 0
    for p in recent:
        if p.outcome == "hit":
            n_hits += 1
            n_hits_right += p.side == "right"
        else:
            n_errors += 1
            n_errors_left += p.side == "left"
    share_hits = n_hits_right / n_hits if n_hits else 0.5
    share_errors = n_errors_left / n_errors if n_errors else 0.5
    return (share_hits + share_errors) / 2


def naive_starved(history: list[Past], n: int) -> list[Side]:
    """Sides whose last ``n`` trials (at least ``n`` of them) had no hit."""
    starved: list[Side] = []
    for side in ("left", "right"):
        mine = [p.outcome for p in history if p.side == side]
        if len(mine) >= n and "hit" not in mine[len(mine) - n :]:
            starved.append(side)
    return starved


def naive_run_forces(history: list[Past], max_same: int) -> Side | None:
    """The side forced by max-same: the last ``max_same`` trials were all the other side."""
    if max_same <= 0 or len(history) < max_same:
        return None
    last = history[-1].side
    if all(p.side == last for p in history[len(history) - max_same :]):
        return other_side(last)
    return None


def trials_since_last_free_drop(history: list[Past]) -> int | None:
    """How many trials were run after the last free-drop trial (None: there was none)."""
    for i in range(len(history) - 1, -1, -1):
        if history[i].free_drop:
            return len(history) - 1 - i
    return None


def naive_free_drop_due(history: list[Past], side: Side, rule: FreeDrop) -> bool:
    """Due for ``side`` when its last ``after_unrewarded`` trials were all unrewarded and more
    than ``min_trials_between`` trials passed since the last free drop (if there was one)."""
    if not rule.enabled:
        return False
    mine = [p for p in history if p.side == side]
    if len(mine) < rule.after_unrewarded:
        return False
    if any(p.outcome == "hit" for p in mine[len(mine) - rule.after_unrewarded :]):
        return False
    since = trials_since_last_free_drop(history)
    return since is None or since > rule.min_trials_between


# -- properties -------------------------------------------------------------------------------


@given(
    seed=seeds,
    mode=st.sampled_from(["random", "antibias"]),
    max_same=st.integers(min_value=1, max_value=5),
    window=st.integers(min_value=1, max_value=40),
    min_correct=st.integers(min_value=1, max_value=8),
    data=st.data(),
)
def test_never_more_than_max_same_in_a_row(
    seed: int, mode: str, max_same: int, window: int, min_correct: int, data: st.DataObject
) -> None:
    selection = TrialSelection(
        mode=mode,  # type: ignore[arg-type]
        max_same=max_same,
        antibias_window=window,
        min_correct_of_last=min_correct,
    )
    n = data.draw(st.integers(min_value=1, max_value=80), label="trials")
    trials = run(selection, FreeDrop(), seed, lambda i, side: data.draw(outcomes), n)
    assert longest_run([side for side, _, _ in trials]) <= max_same


@given(seed=seeds, max_same=st.integers(min_value=1, max_value=5), data=st.data())
def test_autolearn_repeats_a_side_until_it_is_a_hit(
    seed: int, max_same: int, data: st.DataObject
) -> None:
    selection = TrialSelection(mode="autolearn", max_same=max_same)
    n = data.draw(st.integers(min_value=2, max_value=80), label="trials")
    trials = run(selection, FreeDrop(), seed, lambda i, side: data.draw(outcomes), n)
    for (side, outcome, _), (next_side, _, _) in itertools.pairwise(trials):
        if outcome != "hit":
            assert next_side == side
    # A run longer than max_same only continues through autolearn's repeat.
    sides = [side for side, _, _ in trials]
    for i in range(max_same, len(trials)):
        if len(set(sides[i - max_same : i + 1])) == 1:
            assert trials[i - 1][1] != "hit", f"run past max_same at trial {i} after a hit"


@given(seed=seeds, selection=selections, data=st.data())
def test_antibias_p_left_matches_the_documented_formula(
    seed: int, selection: TrialSelection, data: st.DataObject
) -> None:
    def check(selector: TrialSelector, side: Side, due: bool) -> None:
        p = selector.p_left()
        assert 0.0 <= p <= 1.0
        assert p == pytest.approx(naive_p_left(selector.history, selection.antibias_window))

    n = data.draw(st.integers(min_value=1, max_value=80), label="trials")
    run(selection, FreeDrop(), seed, lambda i, side: data.draw(outcomes), n, check)


@given(seed=seeds, selection=selections, data=st.data())
def test_antibias_forces_max_same_then_the_starved_side(
    seed: int, selection: TrialSelection, data: st.DataObject
) -> None:
    """In anti-bias mode: max-same wins, then a single starved side is forced."""
    selection = selection.model_copy(update={"mode": "antibias"})

    def check(selector: TrialSelector, side: Side, due: bool) -> None:
        forced = naive_run_forces(selector.history, selection.max_same)
        starved = naive_starved(selector.history, selection.min_correct_of_last)
        if forced is not None:
            assert side == forced
        elif len(starved) == 1:
            assert side == starved[0]

    n = data.draw(st.integers(min_value=1, max_value=80), label="trials")
    run(selection, FreeDrop(), seed, lambda i, side: data.draw(outcomes), n, check)


class _Always(random.Random):
    """A Random whose draws are fixed (for the forced-side examples)."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


def test_starved_side_is_forced_against_the_antibias_draw() -> None:
    """Left had no hit in its last 5 trials: left is drawn, although p(left) says right."""
    selection = TrialSelection(mode="antibias", max_same=3, min_correct_of_last=5)
    selector = TrialSelector(selection, FreeDrop(), _Always(0.99))
    for _ in range(5):
        selector.record("left", "no_response", False)
        selector.record("right", "hit", False)
    assert selector.p_left() == pytest.approx(0.75)  # all hits right, no errors
    assert selector.next_side() == "left"
    # Once left gets a hit, it is no longer forced and the draw (0.99 > 0.75) says right.
    selector.record("left", "hit", False)
    assert selector.next_side() == "right"


def test_antibias_draws_the_neglected_side() -> None:
    """A mouse that always licks right: right trials are hits, left trials errors -> p(left)=1."""
    selection = TrialSelection(mode="antibias", max_same=0, min_correct_of_last=8)
    selector = TrialSelector(selection, FreeDrop(), random.Random(1))
    for side in ("left", "right", "right", "left", "right"):
        selector.record(side, "hit" if side == "right" else "error", False)
    assert selector.p_left() == 1.0
    assert {selector.next_side() for _ in range(20)} == {"left"}


def test_p_left_uses_only_the_last_window_of_responded_trials() -> None:
    selection = TrialSelection(mode="antibias", antibias_window=2)
    selector = TrialSelector(selection, FreeDrop(), random.Random(0))
    selector.record("left", "hit", False)  # outside the window
    selector.record("right", "hit", False)
    selector.record("right", "no_response", False)  # not responded
    selector.record("left", "error", False)
    assert selector.p_left() == pytest.approx(0.5 * (1.0 + 1.0))
    assert TrialSelector(selection, FreeDrop(), random.Random(0)).p_left() == 0.5


def test_random_mode_draws_both_sides() -> None:
    selection = TrialSelection(mode="random", max_same=0)
    trials = run(selection, FreeDrop(), 3, lambda i, side: "hit", 400)
    lefts = sum(side == "left" for side, _, _ in trials)
    assert 150 < lefts < 250


@given(seed=seeds, selection=selections, rule=free_drops, data=st.data())
def test_free_drop_due_matches_the_documented_rule(
    seed: int, selection: TrialSelection, rule: FreeDrop, data: st.DataObject
) -> None:
    def check(selector: TrialSelector, side: Side, due: bool) -> None:
        history = selector.history
        if trials_since_last_free_drop(history) is None and len(history) <= (
            rule.min_trials_between
        ):
            return  # no free drop yet this early: see test_first_free_drop_...
        for any_side in ("left", "right"):
            assert selector.free_drop_due(any_side) == naive_free_drop_due(  # type: ignore[arg-type]
                history,
                any_side,  # type: ignore[arg-type]
                rule,
            )
        assert due == naive_free_drop_due(history, side, rule)

    n = data.draw(st.integers(min_value=1, max_value=60), label="trials")
    run(selection, rule, seed, lambda i, side: data.draw(outcomes), n, check)


def test_free_drop_after_three_unrewarded_and_spaced() -> None:
    rule = FreeDrop(after_unrewarded=3, min_trials_between=3)
    selector = TrialSelector(TrialSelection(), rule, random.Random(0))
    pattern: list[tuple[Side, Outcome]] = [
        ("right", "hit"),
        ("left", "error"),
        ("right", "hit"),
        ("left", "no_response"),
        ("left", "error"),
    ]
    for side, outcome in pattern:
        selector.record(side, outcome, False)
    assert selector.free_drop_due("left")  # 3 unrewarded left trials, 5 trials, no drop yet
    assert not selector.free_drop_due("right")
    selector.record("left", "error", True)  # the free drop is given
    for _ in range(4):
        assert not selector.free_drop_due("left")  # 0..3 trials since the free drop
        selector.record("left", "error", False)
    assert selector.free_drop_due("left")  # 4 trials run after the free-drop trial
    selector.record("left", "hit", False)
    assert not selector.free_drop_due("left")  # the last 3 left trials include a hit


def test_free_drop_disabled_is_never_due() -> None:
    selector = TrialSelector(TrialSelection(), FreeDrop(enabled=False), random.Random(0))
    for _ in range(10):
        selector.record("left", "error", False)
    assert not selector.free_drop_due("left")


def test_first_free_drop_is_not_delayed_by_a_free_drop_that_never_happened() -> None:
    """The rule's spacing is counted from the last free drop; with none, there is nothing to
    wait for. Autolearn, left missed three times at the session's start: the fourth trial
    (left again) should get a free drop (mission: "if the last 3 trials of one type were
    all unrewarded (and >3 trials since the last free drop)")."""
    rule = FreeDrop(after_unrewarded=3, min_trials_between=3)
    selector = TrialSelector(TrialSelection(mode="autolearn"), rule, random.Random(0))
    for _ in range(3):
        selector.record("left", "error", False)
    assert selector.next_side() == "left"
    assert selector.free_drop_due("left")


@given(seed=seeds, selection=selections, rule=free_drops, outcome_seed=seeds)
def test_same_seed_and_feedback_give_the_same_sequence(
    seed: int, selection: TrialSelection, rule: FreeDrop, outcome_seed: int
) -> None:
    def feedback_from(rng: random.Random) -> Callable[[int, Side], Outcome]:
        def feedback(i: int, side: Side) -> Outcome:
            # Depends on the side, so a different sequence would also feed back differently.
            bias = 0.8 if side == "right" else 0.3
            x = rng.random()
            return "hit" if x < bias else ("error" if x < 0.95 else "no_response")

        return feedback

    first = run(selection, rule, seed, feedback_from(random.Random(outcome_seed)), 60)
    second = run(selection, rule, seed, feedback_from(random.Random(outcome_seed)), 60)
    assert first == second


def test_different_seeds_give_different_sequences() -> None:
    selection = TrialSelection(mode="random", max_same=3)
    sequences = {
        tuple(side for side, _, _ in run(selection, FreeDrop(), seed, lambda i, s: "hit", 40))
        for seed in range(5)
    }
    assert len(sequences) > 1


def test_next_side_mode_argument_overrides_the_protocol_mode() -> None:
    selector = TrialSelector(TrialSelection(mode="random"), FreeDrop(), random.Random(0))
    selector.record("right", "error", False)
    assert selector.next_side("autolearn") == "right"
