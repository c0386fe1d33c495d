"""``rig report``: figures and tables from real simulated sessions."""

from __future__ import annotations

import csv
import itertools
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from rig.cli import main
from rig.subjects.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ("percent_correct.png", "trials_to_criterion.png", "early_licks.png",
           "weight_water.png")  # fmt: skip
# m3 leaves the curriculum for a session of tactile_T1 while in T2 (not meeting its
# criterion), then comes back to T2
SESSIONS = {
    "m1": [("continual_learning", 400, 1), ("continual_learning", 400, 11),
           ("continual_learning", 400, 21)],
    "m2": [("continual_learning", 400, 2), ("continual_learning", 400, 12),
           ("continual_learning", 400, 22)],
    "m3": [("continual_learning", 300, 7), ("tactile_T1", 150, 17),
           ("continual_learning", 300, 27)],
}  # fmt: skip


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("data")
    for subject, sessions in SESSIONS.items():
        for protocol, trials, seed in sessions:
            assert main(["run", "--rig", str(ROOT / "hardware_configs/sim.yaml"),
                         "--protocol", str(ROOT / f"protocols/{protocol}.yaml"),
                         "--subject", subject, "--trials", str(trials), "--seed", str(seed),
                         "--data-dir", str(data), "--weight-g", "24.5"]) == 0  # fmt: skip
    return data


@pytest.fixture(scope="module")
def reports(data_dir: Path) -> dict[str, str]:
    """Every subject's report and the --all report, with what each printed."""
    import contextlib
    import io

    printed = {}
    for name in [*SESSIONS, "--all"]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["report", name, "--data-dir", str(data_dir)]) == 0
        printed[name] = out.getvalue()
    return printed


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _records(folder: str) -> list[dict[str, object]]:
    lines = (Path(folder) / "trials.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line]


def test_each_figure_is_a_png_and_each_file_is_named(
    data_dir: Path, reports: dict[str, str]
) -> None:
    for subject in SESSIONS:
        out = data_dir / "reports" / subject
        written = [line.removeprefix("wrote ") for line in reports[subject].splitlines()
                   if line.startswith("wrote ")]  # fmt: skip
        assert sorted(written) == sorted(
            str(out / n) for n in [*FIGURES, "sessions.csv", "contexts.csv"]
        )
        for name in FIGURES:
            data = (out / name).read_bytes()
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
            width, height = struct.unpack(">II", data[16:24])
            assert 600 <= width <= 2000 and 300 <= height <= 1200, (name, width, height)
            assert len(data) > 15_000, (name, len(data))  # drawn on, not empty axes
    assert reports["m1"].splitlines()[0] == "m1: 3 sessions, 1200 trials"


def test_the_session_table_agrees_with_the_registry_and_the_trials(
    data_dir: Path, reports: dict[str, str]
) -> None:
    with Registry(data_dir) as registry:
        for subject in SESSIONS:
            rows = _rows(data_dir / "reports" / subject / "sessions.csv")
            sessions = registry.sessions(subject)
            assert sorted({int(r["session"]) for r in rows}) == list(range(1, len(sessions) + 1))
            for number, session in enumerate(sessions, 1):
                mine = [r for r in rows if int(r["session"]) == number]
                counts = {"trials": "trials", "hits": "hits", "errors": "errors",
                          "no_response": "no_responses"}  # fmt: skip
                for column, key in counts.items():
                    assert sum(int(r[column]) for r in mine) == session[key], (subject, number)
                water = sum(float(r["water_ul"]) for r in mine)
                assert water == pytest.approx(session["water_ul"], abs=0.01 * len(mine))
                assert {r["weight_g"] for r in mine} == {"24.5"}
                assert {r["protocol"] for r in mine} == {session["protocol"]}
                # each segment counted again here, from the session's own trials.jsonl
                runs = itertools.groupby(_records(session["path"]), lambda r: r["context_label"])
                expected = []
                for label, run in runs:
                    outcomes = [r["outcome"] for r in run]
                    hits, errors = outcomes.count("hit"), outcomes.count("error")
                    expected.append((label, len(outcomes), round(100 * hits / (hits + errors), 1)))
                assert [(r["context"], int(r["trials"]), float(r["percent_correct"]))
                        for r in mine] == expected  # fmt: skip
    sessions_m1 = _rows(data_dir / "reports" / "m1" / "sessions.csv")
    assert len(sessions_m1) > 3, "a session that met criterion midway has two segments"


def test_the_context_table_is_the_context_history(data_dir: Path, reports: dict[str, str]) -> None:
    with Registry(data_dir) as registry:
        for subject in SESSIONS:
            rows = _rows(data_dir / "reports" / subject / "contexts.csv")
            spells = registry.context_history(subject)
            numbers = {s["path"]: n for n, s in enumerate(registry.sessions(subject), 1)}
            assert [r["label"] for r in rows] == [s.label for s in spells]
            assert [r["trials_to_criterion"] for r in rows] == [
                str(s.trials_to_criterion or "") for s in spells
            ]
            assert [r["reason"] for r in rows] == [s.reason or "" for s in spells]
            assert [int(r["entered_session"]) for r in rows] == [
                numbers[s.entered_session] for s in spells
            ]
        # m3's T2 was left for a session of another protocol, then that protocol's T1: the
        # registry has no count of their trials, the report counts them
        rows = _rows(data_dir / "reports" / "m3" / "contexts.csv")
        t2, t1 = [r for r in rows if r["reason"] not in ("criterion", "trials", "")]
        first, second, _ = registry.sessions("m3")
        start = registry.context_history("m3")[0]
        assert (t2["label"], t2["trials_to_criterion"]) == ("T2", "")
        assert int(t2["trials"]) == first["trials"] - (start.left_after_trial or 0)
        assert (t1["label"], int(t1["trials"])) == ("T1", second["trials"])  # tactile_T1
    assert f"left: {t2['reason']}" in reports["m3"]


def test_all_has_one_row_per_mouse_and_criterion(data_dir: Path, reports: dict[str, str]) -> None:
    out = data_dir / "reports" / "all"
    rows = _rows(out / "trials_to_criterion_all.csv")
    expected = []
    with Registry(data_dir) as registry:
        for subject in SESSIONS:
            for ordinal, s in enumerate(registry.context_history(subject), 1):
                if s.reason == "criterion":
                    expected.append([subject, str(ordinal), s.label, str(s.trials)])
    assert [list(r.values()) for r in rows] == expected
    assert len({r["subject"] for r in rows}) == 3
    data = (out / "trials_to_criterion_all.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 15_000
    table = reports["--all"].splitlines()
    assert table[0] == "trials to criterion"
    assert [line.split()[0] for line in table[2:6]] == ["m1", "m2", "m3", "median"]


def test_a_subject_without_sessions_exits_2(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "ghost", "--data-dir", str(data_dir)]) == 2
    err = capsys.readouterr().err
    assert "ghost" in err and str(data_dir) in err and len(err.splitlines()) == 1
    assert not (data_dir / "reports" / "ghost").exists()
    empty = tmp_path / "empty"
    assert main(["report", "ghost", "--data-dir", str(empty)]) == 2
    assert not empty.exists(), "no registry is created by a report"
    assert main(["report", "--data-dir", str(data_dir)]) == 2  # neither a subject nor --all


def test_a_broken_trials_line_is_named_and_a_cut_last_line_skipped(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "data"
    shutil.copytree(data_dir / "m1", copy / "m1")
    with Registry(copy) as registry:
        registry.reindex()
        first, second, *_ = registry.sessions("m1")
    cut = Path(second["path"]) / "trials.jsonl"  # killed mid-write: the last line cut short
    cut.write_text(cut.read_text()[:-40])
    assert main(["report", "m1", "--data-dir", str(copy)]) == 0
    rows = _rows(copy / "reports" / "m1" / "sessions.csv")
    assert sum(int(r["trials"]) for r in rows if r["session"] == "2") == second["trials"] - 1
    broken = Path(first["path"]) / "trials.jsonl"
    lines = broken.read_text().splitlines(keepends=True)
    lines[9] = lines[9][:30] + "\n"
    broken.write_text("".join(lines))
    capsys.readouterr()
    assert main(["report", "m1", "--data-dir", str(copy)]) == 1
    assert f"{broken}:10:" in capsys.readouterr().err


def test_no_qt_and_no_pyplot_even_when_matplotlib_is_told_qt(
    data_dir: Path, tmp_path: Path
) -> None:
    code = (
        "import sys; from rig.cli import main;"
        f"code = main(['report', 'm2', '--data-dir', {str(data_dir)!r},"
        f" '--out', {str(tmp_path)!r}]);"
        "print([m for m in sys.modules if m.split('.')[0] in ('PyQt6', 'PyQt5', 'PySide6')"
        " or m in ('matplotlib.pyplot', 'matplotlib.backends.backend_qtagg')], code)"
    )
    env = {**os.environ, "MPLBACKEND": "QtAgg"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True)  # fmt: skip
    assert out.stdout.splitlines()[-1] == "[] 0"
    assert f"wrote {tmp_path / 'percent_correct.png'}" in out.stdout
