"""A simulated subject through the whole curriculum over 60 simulated days: shaping, then
T1 -> T2 -> T1' -> T2' -> A1; on day 30 the operator sends it back to T1' (off-curriculum,
with a reason); three imaging fields of view in rotation. The registry each session kept
must agree with the session files, and survive being deleted and rebuilt."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import pytest

from rig.cli import main
from rig.schema.hardware import HardwareConfig
from rig.schema.loader import load_model
from rig.schema.protocol import Protocol
from rig.session.session import SessionRequest, run_session
from rig.subjects.registry import DB_NAME, Registry

ROOT = Path(__file__).resolve().parents[2]
DAYS, TRIALS, SHAPING_DAYS, OVERRIDE_DAY = 60, 200, 4, 30
REASON = "back to T1 after the imaging break"
DAY_0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("data")
    hardware = load_model(ROOT / "hardware_configs/sim.yaml", HardwareConfig)
    shaping = load_model(ROOT / "protocols/shaping.yaml", Protocol)
    contexts = load_model(ROOT / "protocols/continual_learning.yaml", Protocol)
    weights = random.Random(7)
    for day in range(DAYS):
        override = {"start_step": 2, "override_reason": REASON} if day == OVERRIDE_DAY else {}
        request = SessionRequest(
            shaping if day < SHAPING_DAYS else contexts, hardware, "JH200", TRIALS, day, data,
            operator="kim", weight_g=round(weights.gauss(23.0, 0.4), 1),
            fov=f"FOV{day % 3 + 1}", started_at=DAY_0 + dt.timedelta(days=day), **override,
        )  # fmt: skip
        assert run_session(request).status == "completed"
    return data


def _sessions(data: Path) -> list[dict[str, Any]]:
    folders = sorted((data / "JH200").glob("2*"))
    return [{"folder": f, **json.loads((f / "session.json").read_text())} for f in folders]


def index_of(files: list[dict[str, Any]], folder: str | None) -> int:
    return [str(s["folder"]) for s in files].index(str(folder))


def _answers(registry: Registry) -> tuple[Any, ...]:
    sessions = [{k: v for k, v in s.items() if k != "path"} for s in registry.sessions("JH200")]
    return sessions, registry.context_history("JH200"), registry.fovs("JH200")


def test_sixty_days_are_in_the_registry_day_by_day(data_dir: Path) -> None:
    with Registry(data_dir) as registry:  # no reindex: each session indexed itself
        sessions = registry.sessions("JH200")
    days = [dt.datetime.fromisoformat(s["start_time"]).date() for s in sessions]
    assert days == [DAY_0.date() + dt.timedelta(days=d) for d in range(DAYS)]
    assert [s["protocol"] for s in sessions] == (
        ["shaping"] * SHAPING_DAYS + ["continual_learning"] * (DAYS - SHAPING_DAYS)
    )
    assert all(s["trials"] == TRIALS and s["weight_g"] for s in sessions)


def test_the_context_history_matches_the_session_files(data_dir: Path) -> None:
    files = _sessions(data_dir)
    with Registry(data_dir) as registry:
        spells = registry.context_history("JH200")
    switches = [w for s in files for w in s["context_switches"]]
    by_switch = [c for c in spells if c.reason in ("criterion", "trials")]
    assert [(c.label, c.reason, c.trials) for c in by_switch] == [
        (w["from"], w["reason"], w["trials_in_step"]) for w in switches
    ]
    labels = [c.label for c in spells if c.protocol == "continual_learning"]
    assert labels[:5] == ["T1", "T2", "T1'", "T2'", "A1"]  # the whole curriculum
    assert labels[5:] == ["T1'", "T2'", "A1"]  # after the operator's override
    # entering: the shaping's start, the new protocol, then switches and the override only
    assert spells[0].entered_reason == "start"
    entered_by_protocol = [c for c in spells if c.entered_reason == "new protocol"]
    assert [c.entered_session for c in entered_by_protocol] == [str(files[SHAPING_DAYS]["folder"])]
    off = [c for c in spells if c.off_curriculum]
    assert [(c.label, c.entered_reason) for c in off] == [("T1'", REASON)]
    assert off[0].entered_session == str(files[OVERRIDE_DAY]["folder"])
    # before it the curriculum had been completed: A1 left by criterion, days earlier
    done = spells[spells.index(off[0]) - 1]
    assert (done.label, done.reason) == ("A1", "criterion")
    assert index_of(files, done.left_session) < OVERRIDE_DAY


def test_trials_to_criterion_counts_the_trials_in_the_files(data_dir: Path) -> None:
    """Each criterion spell's trials, counted again from the trial records in its span."""
    files = _sessions(data_dir)
    index = {str(s["folder"]): i for i, s in enumerate(files)}
    with Registry(data_dir) as registry:
        spells = registry.context_history("JH200")
    for spell in (c for c in spells if c.trials_to_criterion is not None):
        first, last = index[spell.entered_session], index[str(spell.left_session)]
        count = 0
        for i in range(first, last + 1):
            lines = (files[i]["folder"] / "trials.jsonl").read_text().splitlines()
            trials = [json.loads(line)["trial"] for line in lines]
            count += sum(
                1
                for t in trials
                if (i > first or t > spell.entered_after_trial)
                and (i < last or t <= (spell.left_after_trial or 0))
            )
        assert count == spell.trials_to_criterion, spell


def test_fields_of_view_and_a_rebuilt_registry(data_dir: Path) -> None:
    files = _sessions(data_dir)
    with Registry(data_dir) as registry:
        before = _answers(registry)
    assert before[2] == {
        f"FOV{k}": [str(s["folder"]) for d, s in enumerate(files) if d % 3 + 1 == k]
        for k in (1, 2, 3)
    }
    (data_dir / DB_NAME).unlink()
    with Registry(data_dir) as registry:
        assert registry.reindex() == DAYS
        assert _answers(registry) == before


def test_rig_next_after_sixty_days(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["next", "JH200", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "continual_learning" in out and "A1" in out


def test_reports_of_the_sixty_days(data_dir: Path, tmp_path: Path) -> None:
    """The subject's figures, and --all lining the contexts up by curriculum step: the
    shaping and the operator's detour do not shift them."""
    out = tmp_path / "JH200"
    assert main(["report", "JH200", "--data-dir", str(data_dir), "--out", str(out)]) == 0
    for name in ("percent_correct", "trials_to_criterion", "early_licks", "weight_water"):
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    everyone = tmp_path / "all"
    args = ["--data-dir", str(data_dir), "--out", str(everyone), "--protocol"]
    assert main(["report", "--all", *args, "continual_learning"]) == 0
    rows = (everyone / "trials_to_criterion_all.csv").read_text().splitlines()[1:]
    assert [r.split(",")[1:3] for r in rows] == [
        [str(i), label]
        for i, label in enumerate(["T1", "T2", "T1'", "T2'", "A1", "T1'", "T2'", "A1"], 1)
    ]
