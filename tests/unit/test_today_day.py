"""The launcher's day card, from the subject's session folders: the weighings (last and
baseline) and the questions a weight raises, today's sessions and their water, how the
subject got to its step, each step in words, the last session's end weight and water."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from rig.session.day import (
    BASELINE_FRACTION,
    WEIGHT_DROP_FROM_LAST,
    Weighing,
    earlier_water_ul,
    sessions,
    weighings,
    weight_questions,
)
from rig.session.today import suggest
from rig.subjects.next import next_for

ROOT = Path(__file__).resolve().parents[2]
PROTOCOLS = ROOT / "protocols"
T1 = {"step": 0, "trials_in_step": 0, "completed": False, "recent": []}


def _session(data: Path, name: str, **meta: Any) -> Path:
    """A finished session of m1 (continual_learning) named ``YYYYmmdd-HHMMSS``."""
    folder = data / "m1" / name
    folder.mkdir(parents=True)
    start = dt.datetime.strptime(name, "%Y%m%d-%H%M%S").replace(tzinfo=dt.UTC)
    full = {
        "subject": "m1", "protocol_file": "protocols/continual_learning.yaml",
        "protocol": {"name": "continual_learning"}, "start_time": start.isoformat(),
        "end_time": (start + dt.timedelta(hours=1)).isoformat(), "status": "completed",
        "start_position": T1, "end_position": T1, "context_switches": [],
        "summary": {"trials": 300, "end_label": "T1", "water_ul": 600.0, "hand_water_ul": 5.0,
                    "ended_by": "operator"},
        **meta,
    }  # fmt: skip
    (folder / "session.json").write_text(json.dumps(full))
    return folder


def test_weighings_last_and_baseline(tmp_path: Path) -> None:
    _session(tmp_path, "20260301-090000", weight_g=25.0, end_annotations={"weight_g": 25.8})
    _session(tmp_path, "20260302-090000", weight_g=23.4)
    found = weighings(list(sessions(tmp_path / "m1")))
    assert [(w.weight_g, w.after) for w in found] == [(25.0, False), (25.8, True), (23.4, False)]
    s = suggest(tmp_path, "m1", PROTOCOLS).to_json()
    assert s["weights"]["baseline"]["weight_g"] == 25.0
    assert s["weights"]["last"]["weight_g"] == 23.4


def test_a_weight_far_below_the_last_or_the_baseline_is_asked_about() -> None:
    last = Weighing(23.4, "2026-03-02T09:00:00+00:00", "20260302-090000", after=False)
    base = Weighing(25.0, "2026-03-01T09:00:00+00:00", "20260301-090000", after=False)
    (drop,) = weight_questions(18.0, last, None)  # the issue's -23 %
    assert "23 % below the last weighing (23.4 g before the session of 2026-03-02)" in drop
    edge = round(last.weight_g * (1 - WEIGHT_DROP_FROM_LAST), 1)
    assert weight_questions(edge + 0.1, last, None) == []
    assert weight_questions(21.0, last, None) == []  # -10 %: nothing to ask
    (low,) = weight_questions(19.9, None, base)
    assert "80 % of the baseline (25 g on 2026-03-01)" in low
    assert weight_questions(25.0 * BASELINE_FRACTION, None, base) == []  # at the limit
    assert weight_questions(22.0, None, None) == []  # a new mouse: nothing to compare


def test_todays_sessions_and_their_water(tmp_path: Path) -> None:
    _session(tmp_path, "20260301-090000")
    morning = _session(tmp_path, "20260302-090000")
    running = _session(tmp_path, "20260302-120000", status="running", summary=None)
    (running / "trials.jsonl").write_text(
        json.dumps({"trial": 1, "reward_ul": 2.5, "free_drop_ul": 0.0}) + "\n"
        + json.dumps({"trial": 2, "reward_ul": 2.5, "free_drop_ul": 1.0}) + "\n"
    )  # fmt: skip
    (running / "operator.jsonl").write_text(
        json.dumps({"action": "drop", "volume_ul": 2.5}) + "\n"
        + json.dumps({"action": "drop", "refused": "too many drops"}) + "\n"
    )  # fmt: skip
    day = dt.date(2026, 3, 2)
    assert earlier_water_ul(tmp_path / "m1", day) == pytest.approx(605.0 + 8.5)
    assert earlier_water_ul(tmp_path / "m1", day, exclude=running) == pytest.approx(605.0)
    s = suggest(tmp_path, "m1", PROTOCOLS, today=day).to_json()
    assert [t["dir"] for t in s["today"]] == [str(morning), str(running)]
    assert [t["trials"] for t in s["today"]] == [300, 2]
    assert s["earlier_water_today_ul"] == pytest.approx(613.5)
    assert s["water_target_ul"] == 1000.0
    assert suggest(tmp_path, "m1", PROTOCOLS, today=dt.date(2026, 3, 3)).today == []


def test_the_last_session_shows_its_end_weight_and_water(tmp_path: Path) -> None:
    _session(tmp_path, "20260302-090000", weight_g=23.4, end_annotations={"weight_g": 24.1})
    last = suggest(tmp_path, "m1", PROTOCOLS).to_json()["last_session"]
    assert (last["weight_g"], last["weight_after_g"]) == (23.4, 24.1)
    assert (last["water_ul"], last["ended_by"]) == (605.0, "operator")


def _switch(reason: str, to_step: int = 1, **kw: Any) -> dict[str, Any]:
    return {"after_trial": 180, "from": "T1", "to": "T2", "from_step": 0, "to_step": to_step,
            "completed": False, "trials_in_step": 412, "reason": reason, **kw}  # fmt: skip


T2 = {**T1, "step": 1}


def test_how_the_subject_got_to_its_step(tmp_path: Path) -> None:
    assert "first step" in suggest(tmp_path, "m1", PROTOCOLS).arrival  # a new subject
    _session(tmp_path, "20260301-090000", end_position=T2, context_switches=[_switch("criterion")])
    s = suggest(tmp_path, "m1", PROTOCOLS)
    assert s.step == 1
    assert s.arrival.startswith("reached the criterion of T1 after 412 trials in it")
    # the next day continues in T2: how it got there is still the criterion, a day earlier
    _session(tmp_path, "20260302-090000", start_position=T2, end_position=T2)
    assert "reached the criterion of T1" in suggest(tmp_path, "m1", PROTOCOLS).arrival
    # an operator's switch, with its reason
    _session(tmp_path, "20260303-090000", start_position=T2, end_position={**T1, "step": 2},
             context_switches=[_switch("back to T1 after the break", to_step=2)])  # fmt: skip
    arrival = suggest(tmp_path, "m1", PROTOCOLS).arrival
    assert "switched by the operator from T1 after trial 180" in arrival
    assert arrival.endswith(": back to T1 after the break")
    assert next_for(tmp_path, "m1", PROTOCOLS)[-1] == "  how it got there: " + arrival  # rig next


def test_an_operators_start_elsewhere_is_told_with_its_reason(tmp_path: Path) -> None:
    _session(tmp_path, "20260301-090000", start_position=T2, end_position=T2,
             override_reason="imaging T2 today")  # fmt: skip
    arrival = suggest(tmp_path, "m1", PROTOCOLS).arrival
    assert arrival == "started here by the operator (session of 2026-03-01 09:00): imaging T2 today"


def test_each_step_in_words_and_the_rule_as_rig_next_prints_it(tmp_path: Path) -> None:
    s = suggest(tmp_path, "new", PROTOCOLS)
    assert s.protocol_file == "continual_learning.yaml"  # the curriculum's, not the first file
    assert s.step_descriptions[1] == (
        "tactile context 2, the reversal of T1; to 75 % correct over 100 responded trials"
    )
    assert s.where == "step 1 of 5: T1 (context T1)"
    assert s.rule.startswith("it moves on at 75 % correct over 100 responded trials")
    assert "missing: 100 more responded trials" in s.rule
    shaping = suggest(tmp_path, "new", PROTOCOLS, "shaping.yaml")
    assert "any lick after the go cue is rewarded" in shaping.step_descriptions[0]
