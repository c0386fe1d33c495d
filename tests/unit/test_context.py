"""Tests for rig.task.context.ContextTracker: switch rules, labels, primes, completion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rig.schema import Protocol, load_model
from rig.task.context import ContextTracker, Position, StepAdvanced
from rig.task.spec import Outcome

T1 = {"modality": "tactile", "mapping": {"posterior": "right", "anterior": "left"}}
T2 = {"modality": "tactile", "mapping": {"posterior": "left", "anterior": "right"}}


def protocol_with(*rules: dict[str, Any]) -> Protocol:
    """A protocol whose curriculum alternates T1, T2, ... with the given switch rules."""
    contexts = ("T1", "T2")
    return Protocol.model_validate(
        {
            "name": "test",
            "contexts": {"T1": T1, "T2": T2},
            "curriculum": [
                {"context": contexts[i % 2], "advance": rule} for i, rule in enumerate(rules)
            ],
        }
    )


def feed(
    tracker: ContextTracker, trials: list[tuple[Outcome, bool]]
) -> list[tuple[int, StepAdvanced]]:
    """Record every trial; the (1-based trial index, event) of every advance."""
    events = []
    for i, (outcome, early) in enumerate(trials, start=1):
        event = tracker.record(outcome, early)
        if event is not None:
            events.append((i, event))
    return events


@pytest.fixture(scope="module")
def continual(root: Path) -> Protocol:
    return load_model(root / "protocols" / "continual_learning.yaml", Protocol)


# -- criterion ------------------------------------------------------------------------------


def test_criterion_counts_only_responded_trials() -> None:
    protocol = protocol_with(
        {"rule": "criterion", "percent_correct": 75, "window": 4}, {"rule": "manual"}
    )
    tracker = ContextTracker(protocol)
    # Three hits and many no-responses: the window is not full yet.
    assert feed(tracker, [("hit", False)] * 3 + [("no_response", False)] * 10) == []
    assert tracker.percent_correct() == 100.0
    (_, event) = feed(tracker, [("hit", False)])[0]
    assert event == StepAdvanced(0, 1, "T1", "T2", 14, "criterion")


def test_criterion_needs_a_full_window() -> None:
    protocol = protocol_with(
        {"rule": "criterion", "percent_correct": 75, "window": 10}, {"rule": "manual"}
    )
    tracker = ContextTracker(protocol)
    assert feed(tracker, [("hit", False)] * 9) == []
    assert tracker.step == 0
    assert tracker.record("hit", False) is not None
    assert tracker.step == 1


def test_criterion_threshold_is_inclusive_and_over_the_last_window() -> None:
    protocol = protocol_with(
        {"rule": "criterion", "percent_correct": 75, "window": 4}, {"rule": "manual"}
    )
    tracker = ContextTracker(protocol)
    # E E H H -> 50 %; H -> E H H H = 75 % over the last 4: advances.
    assert feed(tracker, [("error", False), ("error", False), ("hit", False)]) == []
    assert tracker.record("hit", False) is None
    assert tracker.percent_correct() == 50.0
    event = tracker.record("hit", False)
    assert event is not None and event.trials_in_step == 5


def test_criterion_min_trials_counts_every_trial_in_the_step() -> None:
    protocol = protocol_with(
        {"rule": "criterion", "percent_correct": 70, "window": 5, "min_trials": 12},
        {"rule": "manual"},
    )
    tracker = ContextTracker(protocol)
    assert feed(tracker, [("hit", False)] * 5 + [("no_response", False)] * 6) == []
    event = tracker.record("no_response", False)  # the 12th trial
    assert event is not None and event.trials_in_step == 12 and event.reason == "criterion"


def test_criterion_max_early_lick_percent() -> None:
    protocol = protocol_with(
        {"rule": "criterion", "percent_correct": 50, "window": 4, "max_early_lick_percent": 25},
        {"rule": "manual"},
    )
    tracker = ContextTracker(protocol)
    # All hits but 2 of 4 early: 50 % > 25 %.
    assert feed(tracker, [("hit", True), ("hit", True), ("hit", False), ("hit", False)]) == []
    # Early licks of no-response trials are not in the window.
    assert tracker.record("no_response", True) is None
    # Window now H(early) H H H: 25 % early -> advances.
    event = tracker.record("hit", False)
    assert event is not None and event.trials_in_step == 6


def test_manual_rule_never_advances_by_itself() -> None:
    tracker = ContextTracker(protocol_with({"rule": "manual"}, {"rule": "manual"}))
    assert feed(tracker, [("hit", False)] * 500) == []
    assert tracker.step == 0 and tracker.trials_in_step == 500


# -- trials rule ----------------------------------------------------------------------------


def test_trials_rule_advances_after_exactly_n_trials_whatever_the_outcomes() -> None:
    tracker = ContextTracker(
        protocol_with({"rule": "trials", "trials": 5}, {"rule": "trials", "trials": 3})
    )
    trials: list[tuple[Outcome, bool]] = [
        ("error", True),
        ("no_response", False),
        ("hit", False),
        ("error", False),
        ("no_response", True),
        ("hit", False),
        ("hit", False),
        ("hit", False),
        ("hit", False),
    ]
    events = feed(tracker, trials)
    assert [(i, e.from_step, e.to_step, e.reason, e.trials_in_step) for i, e in events] == [
        (5, 0, 1, "trials", 5),
        (8, 1, 1, "trials", 3),  # the last step done: completion
    ]
    assert tracker.completed


# -- manual switch --------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["", "   ", "\t\n"])
def test_a_manual_switch_needs_a_reason(continual: Protocol, reason: str) -> None:
    tracker = ContextTracker(continual)
    with pytest.raises(ValueError, match="reason"):
        tracker.switch(reason)
    assert tracker.step == 0


def test_a_manual_switch_is_recorded_with_its_reason(continual: Protocol) -> None:
    tracker = ContextTracker(continual)
    feed(tracker, [("hit", False)] * 7)
    event = tracker.switch("mouse is stuck, operator moves on")
    assert event == StepAdvanced(0, 1, "T1", "T2", 7, "mouse is stuck, operator moves on")
    assert (tracker.step, tracker.trials_in_step, tracker.label) == (1, 0, "T2")
    event = tracker.switch("jump to auditory", to_step=4)
    assert event is not None and (event.from_label, event.to_label) == ("T2", "A1")
    event = tracker.switch("back to T1'", to_step=2)
    assert event is not None and event.to_label == "T1'" and tracker.prime == 1
    with pytest.raises(ValueError):
        tracker.switch("no such step", to_step=-1)


def test_a_switch_resets_the_criterion_window() -> None:
    protocol = protocol_with(
        {"rule": "criterion", "window": 3, "percent_correct": 100},
        {"rule": "criterion", "window": 3, "percent_correct": 100},
        {"rule": "manual"},
    )
    tracker = ContextTracker(protocol)
    feed(tracker, [("hit", False)] * 2)
    tracker.switch("operator")
    assert tracker.percent_correct() is None
    # Two more hits are not a full window in the new step.
    assert feed(tracker, [("hit", False)] * 2) == []
    assert tracker.record("hit", False) is not None


# -- labels, primes, completion for the paper's paradigm --------------------------------------


def test_continual_learning_labels_and_primes(continual: Protocol) -> None:
    assert continual.step_labels() == ["T1", "T2", "T1'", "T2'", "A1"]
    tracker = ContextTracker(continual)
    seen = [(tracker.label, tracker.prime, tracker.current.context)]
    events = []
    for _ in range(len(continual.curriculum)):
        event = None
        for _ in range(100):
            event = tracker.record("hit", False)
        assert event is not None and event.reason == "criterion"
        assert event.trials_in_step == 100
        events.append(event)
        seen.append((tracker.label, tracker.prime, tracker.current.context))
    assert seen[:5] == [
        ("T1", 0, "T1"),
        ("T2", 0, "T2"),
        ("T1'", 1, "T1"),
        ("T2'", 1, "T2"),
        ("A1", 0, "A1"),
    ]
    assert [(e.from_label, e.to_label) for e in events] == [
        ("T1", "T2"),
        ("T2", "T1'"),
        ("T1'", "T2'"),
        ("T2'", "A1"),
        ("A1", "A1"),
    ]
    # Completion: the last step's event is reported once, with from == to.
    assert events[-1].from_step == events[-1].to_step == 4
    assert tracker.completed
    assert feed(tracker, [("hit", False)] * 50) == []
    assert tracker.switch("try to go past the end") is None
    assert tracker.completed and tracker.step == 4


def test_criterion_in_the_continual_protocol_is_75_percent_of_100(continual: Protocol) -> None:
    tracker = ContextTracker(continual)
    pattern: list[tuple[Outcome, bool]] = [("hit", False)] * 3 + [("error", False)]
    # The window of 100 is full at the 100th trial, with exactly 75 % correct.
    events = feed(tracker, pattern * 25)
    assert [(i, e.to_label) for i, e in events] == [(100, "T2")]


def test_labels_for_stages_of_one_context_and_explicit_labels() -> None:
    protocol = Protocol.model_validate(
        {
            "name": "labels",
            "contexts": {"T1": T1, "T2": T2},
            "stages": {"a": {}, "b": {}},
            "curriculum": [
                {"context": "T1", "stage": "a"},
                {"context": "T1", "stage": "b"},  # same context, next stage: still T1
                {"context": "T2"},
                {"context": "T1"},
                {"context": "T2", "label": "T2 reversal"},
            ],
        }
    )
    assert protocol.step_labels() == ["T1", "T1", "T2", "T1'", "T2 reversal"]
    tracker = ContextTracker(protocol, Position(step=3))
    assert tracker.prime == 1


def test_next_stage_after_an_explicitly_labelled_step_is_not_a_return() -> None:
    """T1, then T2 (labelled by the operator), then T2's next stage: T2 was never left, so
    the third step is not a return (no prime), as for unlabelled steps of one context."""
    protocol = Protocol.model_validate(
        {
            "name": "labels",
            "contexts": {"T1": T1, "T2": T2},
            "stages": {"a": {}, "b": {}},
            "curriculum": [
                {"context": "T1"},
                {"context": "T2", "stage": "a", "label": "T2-shaping"},
                {"context": "T2", "stage": "b"},
            ],
        }
    )
    labels = protocol.step_labels()
    tracker = ContextTracker(protocol, Position(step=2))
    assert not labels[2].endswith("'"), labels
    assert tracker.prime == 0


def test_position_resumes_where_a_session_stopped(continual: Protocol) -> None:
    tracker = ContextTracker(continual, Position(step=3, trials_in_step=40))
    assert (tracker.label, tracker.prime, tracker.current.context) == ("T2'", 1, "T2")
    tracker.record("hit", False)
    assert tracker.position == Position(3, 41, False, ((True, False),))


def test_criterion_window_carries_over_between_sessions(continual: Protocol) -> None:
    """The last 100 responded trials may span two sessions, as on the real rig."""
    first = ContextTracker(continual)
    for _ in range(60):
        assert first.record("hit", False) is None
    saved = Position.from_json(first.position.to_json())
    second = ContextTracker(continual, saved)
    advanced = [second.record("hit", False) for _ in range(40)]
    assert advanced[:-1] == [None] * 39
    assert advanced[-1] is not None and advanced[-1].to_label == "T2"
    fresh = ContextTracker(continual, Position(step=0, trials_in_step=60))
    assert all(fresh.record("hit", False) is None for _ in range(40))
    with pytest.raises(ValueError, match="does not exist"):
        ContextTracker(continual, Position(step=5))
    with pytest.raises(ValueError, match="does not exist"):
        ContextTracker(continual, Position(step=-1))


def test_trials_rule_resumes_with_the_trials_already_run() -> None:
    protocol = protocol_with({"rule": "trials", "trials": 10}, {"rule": "manual"})
    tracker = ContextTracker(protocol, Position(step=0, trials_in_step=8))
    assert tracker.record("hit", False) is None
    event = tracker.record("hit", False)
    assert event is not None and event.trials_in_step == 10


# -- property: criterion advancement vs a naive sliding window --------------------------------


def naive_first_crossing(
    trials: list[tuple[Outcome, bool]],
    window: int,
    percent: int,
    min_trials: int,
    max_early: int | None,
) -> int | None:
    """The first 1-based trial after which the criterion holds, recomputed from scratch."""
    for n in range(1, len(trials) + 1):
        responded = [(o == "hit", e) for o, e in trials[:n] if o != "no_response"]
        if len(responded) < window or n < min_trials:
            continue
        last = responded[-window:]
        hits = sum(h for h, _ in last)
        early = sum(e for _, e in last)
        if 100 * hits < percent * window:
            continue
        if max_early is not None and 100 * early > max_early * window:
            continue
        return n
    return None


@given(
    window=st.integers(min_value=1, max_value=15),
    percent=st.integers(min_value=0, max_value=100),
    min_trials=st.integers(min_value=0, max_value=30),
    max_early=st.none() | st.integers(min_value=0, max_value=100),
    trials=st.lists(
        st.tuples(st.sampled_from(["hit", "hit", "error", "no_response"]), st.booleans()),
        max_size=80,
    ),
)
def test_criterion_advances_exactly_at_the_first_crossing(
    window: int,
    percent: int,
    min_trials: int,
    max_early: int | None,
    trials: list[tuple[Outcome, bool]],
) -> None:
    rule: dict[str, Any] = {
        "rule": "criterion",
        "window": window,
        "percent_correct": percent,
        "min_trials": min_trials,
        "max_early_lick_percent": max_early,
    }
    tracker = ContextTracker(protocol_with(rule, {"rule": "manual"}))
    expected = naive_first_crossing(trials, window, percent, min_trials, max_early)
    events = feed(tracker, trials)
    if expected is None:
        assert events == []
        assert tracker.step == 0
    else:
        assert len(events) == 1
        i, event = events[0]
        assert i == expected
        assert (event.from_step, event.to_step, event.reason) == (0, 1, "criterion")
        assert event.trials_in_step == expected
        assert tracker.step == 1 and tracker.trials_in_step == len(trials) - expected


def test_step_names_are_unique() -> None:
    protocol = Protocol.model_validate(
        {
            "name": "names",
            "contexts": {"T1": T1, "T2": T2},
            "stages": {"a": {}},
            "curriculum": [
                {"context": "T1", "stage": "a"},
                {"context": "T1"},
                {"context": "T1"},
                {"context": "T2"},
            ],
        }
    )
    assert protocol.step_names() == ["T1/a", "T1#2", "T1#3", "T2"]


def test_a_switch_to_a_step_that_does_not_exist_is_refused(continual: Protocol) -> None:
    tracker = ContextTracker(continual)
    for bad in (5, 7, -1):
        with pytest.raises(ValueError, match=f"curriculum step {bad} does not exist"):
            tracker.switch("operator typo", to_step=bad)
    assert (tracker.step, tracker.completed) == (0, False)


def test_going_back_reopens_a_completed_curriculum(continual: Protocol) -> None:
    tracker = ContextTracker(continual, Position(step=4, completed=True))
    advanced = tracker.switch("re-train T2", to_step=1)
    assert advanced is not None and advanced.to_label == "T2"
    assert tracker.completed is False
