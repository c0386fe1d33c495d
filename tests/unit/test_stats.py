"""Tests for rig.task.stats.RollingStats against a naive recomputation from all records."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rig.task.stats import RollingStats

LABELS = ("T1", "T2", "T1'", "A1")


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    outcome = draw(st.sampled_from(["hit", "hit", "error", "no_response"]))
    instructed = draw(st.sampled_from(["left", "right"]))
    free_drop = draw(st.booleans())
    given = free_drop and draw(st.booleans())  # an aborted trial ends before its drop
    other = "left" if instructed == "right" else "right"
    if outcome == "hit":
        # Mostly the instructed side; sometimes absent (derived), or the other side
        # (lick-either-side shaping rewards both).
        response = draw(st.sampled_from([instructed, instructed, None, other]))
    elif outcome == "error":
        response = draw(st.sampled_from([other, None]))
    else:
        response = None
    return {
        "outcome": outcome,
        "instructed": instructed,
        "early_lick": draw(st.booleans()),
        "free_drop": free_drop,
        "free_drop_given": given,
        "reward_ul": draw(st.sampled_from([2.5, 2.503, 1.9])) if outcome == "hit" else 0.0,
        "free_drop_ul": draw(st.sampled_from([2.5, 1.2])) if given else 0.0,
        "context_label": draw(st.sampled_from(LABELS)),
        "response_side": response,
    }


def naive_percent(values: list[bool]) -> float | None:
    return 100.0 * sum(values) / len(values) if values else None


def approx(value: float | None) -> Any:
    return None if value is None else pytest.approx(value, abs=0.006)


def answered_right(r: dict[str, Any]) -> bool:
    side = r["response_side"]
    if side is None:
        side = r["instructed"] if r["outcome"] == "hit" else None
        if side is None:
            side = "left" if r["instructed"] == "right" else "right"
    return bool(side == "right")


@given(window=st.integers(min_value=1, max_value=30), rs=st.lists(records(), max_size=120))
def test_rolling_stats_match_a_naive_recomputation(window: int, rs: list[dict[str, Any]]) -> None:
    stats = RollingStats(window=window)
    for i, record in enumerate(rs, start=1):
        stats.add(record)
        seen = rs[:i]
        responded = [r for r in seen if r["outcome"] != "no_response"]
        last = responded[-window:]
        assert stats.trials == i
        assert stats.percent_correct() == approx(
            naive_percent([r["outcome"] == "hit" for r in last])
        )
        for side in ("left", "right"):
            mine = [r["outcome"] == "hit" for r in last if r["instructed"] == side]
            assert stats.percent_correct(side) == approx(naive_percent(mine))
        for label in LABELS:
            in_label = [r for r in responded if r["context_label"] == label][-window:]
            expected = naive_percent([r["outcome"] == "hit" for r in in_label])
            assert stats.percent_correct(label=label) == approx(expected)
        assert stats.early_lick_percent() == approx(naive_percent([r["early_lick"] for r in last]))
        assert stats.right_choice_percent() == approx(
            naive_percent([answered_right(r) for r in last])
        )

    snap = stats.snapshot()
    assert snap["trials"] == len(rs)
    assert snap["outcomes"] == {
        o: sum(r["outcome"] == o for r in rs) for o in ("hit", "error", "no_response")
    }
    assert snap["early_lick_trials"] == sum(r["early_lick"] for r in rs)
    assert snap["free_drops"] == sum(r["free_drop_given"] for r in rs)
    assert snap["water_ul"] == pytest.approx(
        sum(r["reward_ul"] + r["free_drop_ul"] for r in rs), abs=1e-3
    )
    assert snap["window"] == window
    labels_seen = {r["context_label"] for r in rs if r["outcome"] != "no_response"}
    assert set(snap["percent_correct_by_context"]) == labels_seen
    assert snap["percent_correct"] == stats.percent_correct()
    assert snap["percent_correct_left"] == stats.percent_correct("left")
    assert snap["percent_correct_right"] == stats.percent_correct("right")


def record(outcome: str, instructed: str = "left", **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "outcome": outcome,
        "instructed": instructed,
        "early_lick": False,
        "free_drop": False,
        "free_drop_given": False,
        "reward_ul": 2.5 if outcome == "hit" else 0.0,
        "free_drop_ul": 0.0,
        "context_label": "T1",
    }
    base.update(extra)
    return base


def test_empty_stats() -> None:
    stats = RollingStats()
    snap = stats.snapshot()
    assert snap["trials"] == 0
    assert snap["percent_correct"] is None
    assert snap["percent_correct_left"] is None
    assert snap["early_lick_percent"] is None
    assert snap["percent_correct_by_context"] == {}
    assert snap["water_ul"] == 0.0
    assert snap["window"] == 100


def test_no_response_trials_are_left_out_of_the_percentages() -> None:
    stats = RollingStats(window=100)
    for r in [record("hit"), record("error", "right"), record("no_response", early_lick=True)]:
        stats.add(r)
    assert stats.percent_correct() == 50.0
    assert stats.percent_correct("left") == 100.0
    assert stats.percent_correct("right") == 0.0
    assert stats.early_lick_percent() == 0.0
    assert stats.snapshot()["early_lick_trials"] == 1
    assert stats.snapshot()["outcomes"] == {"hit": 1, "error": 1, "no_response": 1}


def test_the_window_drops_old_trials() -> None:
    stats = RollingStats(window=3)
    for r in [record("error"), record("error"), record("hit"), record("hit"), record("hit")]:
        stats.add(r)
    assert stats.percent_correct() == 100.0
    stats.add(record("error"))
    assert stats.percent_correct() == pytest.approx(66.67)


def test_percent_correct_per_context_label() -> None:
    stats = RollingStats(window=2)
    stats.add(record("hit", context_label="T1"))
    stats.add(record("error", context_label="T2"))
    stats.add(record("error", context_label="T2"))
    stats.add(record("hit", context_label="T2"))
    assert stats.percent_correct(label="T1") == 100.0  # its own last 2: still the one hit
    assert stats.percent_correct(label="T2") == 50.0
    assert stats.percent_correct(label="A1") is None
    assert stats.snapshot()["percent_correct_by_context"] == {"T1": 100.0, "T2": 50.0}


def test_water_total_counts_rewards_and_free_drops() -> None:
    stats = RollingStats()
    stats.add(record("hit", reward_ul=2.5))
    stats.add(record("error", free_drop=True, free_drop_given=True, free_drop_ul=2.5))
    stats.add(
        record("hit", free_drop=True, free_drop_given=True, reward_ul=2.503, free_drop_ul=1.2)
    )
    stats.add(record("no_response", free_drop=True))  # aborted before the drop
    assert stats.snapshot()["water_ul"] == pytest.approx(8.703)
    assert stats.snapshot()["free_drops"] == 2
