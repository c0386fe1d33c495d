"""``rig next``: the promotion rule against where the subject stands, on both sides of
each threshold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from rig.subjects.next import next_for

ROOT = Path(__file__).resolve().parents[2]


def _setup(tmp_path: Path, advance: dict[str, object], position: dict[str, object]) -> list[str]:
    """A protocol of two steps with the given rule for the first, and one session of it
    that ended at ``position``."""
    protocol = yaml.safe_load((ROOT / "protocols/tactile_T1.yaml").read_text())
    protocol["name"] = "two_steps"
    mapping = {"posterior": "left", "anterior": "right"}
    protocol["contexts"]["T2"] = {"modality": "tactile", "mapping": mapping}
    protocol["curriculum"] = [{"context": "T1", "advance": advance}, {"context": "T2"}]
    protocols = tmp_path / "protocols"
    protocols.mkdir()
    (protocols / "two_steps.yaml").write_text(yaml.safe_dump(protocol))
    session = tmp_path / "data" / "m1" / "20261130-090000"
    session.mkdir(parents=True)
    meta = {
        "subject": "m1", "protocol_file": "protocols/two_steps.yaml",
        "protocol": {"name": "two_steps"}, "start_time": "2026-11-30T09:00:00+00:00",
        "status": "completed", "summary": {"trials": 10, "end_label": "T1"},
        "end_position": {"step": 0, "completed": False, **position},
    }  # fmt: skip
    (session / "session.json").write_text(json.dumps(meta))
    return next_for(tmp_path / "data", "m1", protocols)


def _window(hits: int, misses: int, early: int = 0) -> list[list[bool]]:
    return [[True, i < early] for i in range(hits)] + [[False, False]] * misses


@pytest.mark.parametrize(("hits", "met"), [(74, False), (75, True)], ids=["74 of 100", "75 of 100"])
def test_percent_correct(tmp_path: Path, hits: int, met: bool) -> None:
    lines = _setup(tmp_path, {"rule": "criterion", "percent_correct": 75, "window": 100},
                   {"trials_in_step": 120, "recent": _window(hits, 100 - hits)})  # fmt: skip
    assert "step 1 of 2: T1" in lines[2]
    assert ("met, it moves on after its next trial" in lines[3]) is met
    if not met:
        assert "74.0 % over 100" in lines[3] and "1.0 points of percent correct" in lines[3]


@pytest.mark.parametrize(("responded", "met"), [(99, False), (100, True)])
def test_a_full_window(tmp_path: Path, responded: int, met: bool) -> None:
    lines = _setup(tmp_path, {"rule": "criterion", "percent_correct": 75, "window": 100},
                   {"trials_in_step": 120, "recent": _window(responded, 0)})  # fmt: skip
    assert ("met" in lines[3]) is met
    assert ("1 more responded trials" in lines[3]) is not met


@pytest.mark.parametrize(("trials", "met"), [(199, False), (200, True)])
def test_minimum_trials(tmp_path: Path, trials: int, met: bool) -> None:
    rule = {"rule": "criterion", "percent_correct": 75, "window": 100, "min_trials": 200}
    lines = _setup(tmp_path, rule, {"trials_in_step": trials, "recent": _window(90, 10)})
    assert ("met" in lines[3]) is met
    assert ("1 more trials in the step" in lines[3]) is not met


@pytest.mark.parametrize(("early", "met"), [(21, False), (20, True)])
def test_early_lick_cap(tmp_path: Path, early: int, met: bool) -> None:
    rule = {"rule": "criterion", "percent_correct": 75, "window": 100,
            "max_early_lick_percent": 20}  # fmt: skip
    lines = _setup(tmp_path, rule, {"trials_in_step": 150, "recent": _window(90, 10, early)})
    assert ("met" in lines[3]) is met
    assert ("early licks down from 21.0 %" in lines[3]) is not met


@pytest.mark.parametrize(("done", "text"), [(299, "299 done, 1 to go"), (300, "300 of 300")])
def test_a_trial_count(tmp_path: Path, done: int, text: str) -> None:
    lines = _setup(tmp_path, {"rule": "trials", "trials": 300}, {"trials_in_step": done})
    assert text in lines[3]


def test_manual_and_completed(tmp_path: Path) -> None:
    lines = _setup(tmp_path, {"rule": "manual"}, {"trials_in_step": 42})
    assert "the operator moves it on (manual); 42 trials" in lines[3]
    meta_file = next((tmp_path / "data").glob("m1/*/session.json"))
    meta = json.loads(meta_file.read_text())
    meta["end_position"] = {"step": 1, "trials_in_step": 400, "completed": True, "recent": []}
    meta_file.write_text(json.dumps(meta))
    lines = next_for(tmp_path / "data", "m1", tmp_path / "protocols")
    assert "the curriculum of two_steps is completed" in lines[-1]
