"""The subject registry, indexed from real simulated sessions."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from rig.cli import main
from rig.subjects.registry import DB_NAME, MIGRATIONS, Registry, RegistryError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two mice, three 400-trial sessions each, of the continual-learning curriculum."""
    data = tmp_path_factory.mktemp("data")
    for subject, seed in (("m1", 1), ("m2", 2)):
        for session in range(3):
            args = ["--subject", subject, "--trials", "400", "--seed", str(seed + 10 * session)]
            assert main(["run", "--rig", str(ROOT / "hardware_configs/sim.yaml"),
                         "--protocol", str(ROOT / "protocols/continual_learning.yaml"),
                         *args, "--data-dir", str(data)]) == 0  # fmt: skip
    return data


def _switches(data: Path, subject: str) -> list[dict[str, object]]:
    out = []
    for meta_file in sorted((data / subject).glob("2*/session.json")):
        out += json.loads(meta_file.read_text())["context_switches"]
    return out


def test_each_session_is_indexed_when_it_ends(data_dir: Path) -> None:
    with Registry(data_dir) as registry:  # no reindex: the sessions did it
        assert [len(registry.sessions(s)) for s in ("m1", "m2")] == [3, 3]
        assert registry.context_history("m1")[0].label == "T1"


def test_rig_subjects_add_list_show(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data-dir", str(data_dir)]
    assert main(["subjects", "add", "m3", "--sex", "M", "--genotype", "CaMKII-tTA", *data]) == 0
    assert main(["subjects", "reindex", *data]) == 0
    assert "6 sessions indexed" in capsys.readouterr().out
    assert main(["subjects", "list", *data]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert set(rows) == {"m1", "m2", "m3"}
    assert "CaMKII-tTA" in rows["m3"] and rows["m3"].split()[3] == "0"  # no session yet
    assert main(["subjects", "show", "m1", *data]) == 0
    shown = capsys.readouterr().out
    sessions = shown.split("contexts")[0]
    assert sessions.count(" trials ") == 3 and sessions.count("completed") == 3
    first = Registry(data_dir).context_history("m1")[0]
    line = next(x for x in shown.splitlines() if x.startswith("  T1   continual_learning step 0"))
    assert line.endswith(f" {first.trials} trials to criterion")


def test_the_context_history_is_the_sessions_switches(data_dir: Path) -> None:
    with Registry(data_dir) as registry:
        assert registry.reindex() == 6
        for subject in ("m1", "m2"):
            spells = registry.context_history(subject)
            switches = _switches(data_dir, subject)
            assert switches, "the curriculum moved on at least once"
            left = [s for s in spells if s.left_session is not None]
            assert [s.label for s in left] == [w["from"] for w in switches]
            assert [s.trials for s in left] == [w["trials_in_step"] for w in switches]
            assert [s.label for s in spells[1:]] == [
                w["to"] for w in switches if not w["completed"]
            ]
            done = switches[-1]["completed"]  # the curriculum's end, or where the mouse is now
            assert (spells[-1].left_session is None) == (not done)
            criterion = [s for s in spells if s.reason == "criterion"]
            assert all(s.trials_to_criterion == s.trials for s in criterion)
            sessions = registry.sessions(subject)
            assert len(sessions) == 3 and all(s["trials"] == 400 for s in sessions)
            assert sessions[0]["start_label"] == "T1"


def test_a_deleted_database_is_rebuilt_with_the_same_answers(data_dir: Path) -> None:
    with Registry(data_dir) as registry:
        registry.reindex()
        registry.add_subject("m1", sex="F", birth_date=dt.date(2026, 6, 1), genotype="Ai93")
        before = ([registry.context_history(s) for s in ("m1", "m2")],
                  [registry.sessions(s) for s in ("m1", "m2")])  # fmt: skip
    (data_dir / DB_NAME).unlink()
    with Registry(data_dir) as registry:
        assert registry.schema_version == len(MIGRATIONS)
        registry.reindex()
        after = ([registry.context_history(s) for s in ("m1", "m2")],
                 [registry.sessions(s) for s in ("m1", "m2")])  # fmt: skip
        assert after == before
        listed = {s["id"]: s for s in registry.subjects()}
        assert set(listed) == {"m1", "m2"} and listed["m1"]["sessions"] == 3
        last = before[0][0][-1]
        assert listed["m1"]["context"] == (last.label if last.left_session is None else None)
        assert listed["m1"]["genotype"] == ""  # what only the database held is gone


def test_a_session_that_cannot_be_indexed_names_its_file(tmp_path: Path) -> None:
    folder = tmp_path / "m9" / "20260101-000000"
    folder.mkdir(parents=True)
    (folder / "session.json").write_text('{"subject": "m9"}')
    with Registry(tmp_path) as registry, pytest.raises(RegistryError) as caught:
        registry.reindex()
    assert str(folder / "session.json") in str(caught.value)
    assert "'start_time'" in str(caught.value)


def test_a_version_1_database_is_migrated_and_keeps_its_rows(
    data_dir: Path, tmp_path: Path
) -> None:
    import shutil
    import sqlite3

    folder = next((data_dir / "m1").glob("2*"))
    copy = tmp_path / "m1" / folder.name
    shutil.copytree(folder, copy)
    old = sqlite3.connect(tmp_path / DB_NAME)
    old.executescript(MIGRATIONS[0])
    old.execute("PRAGMA user_version = 1")
    old.execute("INSERT INTO subjects (id, genotype) VALUES ('m1', 'Ai93')")
    old.commit()
    old.close()
    with Registry(tmp_path) as registry:
        assert registry.schema_version == len(MIGRATIONS) == 3
        assert registry.subjects()[0]["genotype"] == "Ai93"
        registry.index_session(copy)
        (session,) = registry.sessions("m1")
        assert (
            session["switches"]
            == json.loads((copy / "session.json").read_text())["context_switches"]
        )
