"""A resume checks everything first and changes the files only once it goes ahead: a
refused resume leaves every file of the session byte for byte as it was."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rig.session.resume import ResumeError, resume_point

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["run", "--protocol", "protocols/tactile_T1.yaml", "--subject", "c1", "--trials", "5",
        "--seed", "2"]  # fmt: skip


def _rig(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rig.cli", *args], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)  # fmt: skip


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def killed_after_the_last_trial(tmp_path: Path) -> Path:
    """Every requested trial ended on the device; the kill came before the last one's line
    (so a resume would recover it), and the power cut left half an event line."""
    assert _rig(*ARGS, "--data-dir", str(tmp_path / "whole")).returncode == 0
    whole = next((tmp_path / "whole" / "c1").glob("2*"))
    events = len((whole / "events.jsonl").read_text().splitlines())
    killed = _rig(*ARGS, "--data-dir", str(tmp_path / "cut"), "--fault",
                  f"kill-after-events={events}")  # fmt: skip
    assert killed.returncode == -9, killed.stderr
    folder = next((tmp_path / "cut" / "c1").glob("2*"))
    assert len(_lines(folder / "trials.jsonl")) == 4
    with (folder / "events.jsonl").open("a") as f:
        f.write('{"trial":5,"kin')
    return folder


def test_a_refused_resume_changes_no_file(killed_after_the_last_trial: Path) -> None:
    folder = killed_after_the_last_trial
    before = _files(folder)
    point = resume_point(folder)  # computes, writes nothing
    assert point.entry["recovered_trials"] == [5]
    assert point.entry["cut_lines"] == {"events.jsonl": '{"trial":5,"kin'}
    assert _files(folder) == before
    refused = _rig("resume", str(folder))  # all 5 requested trials ran
    assert refused.returncode == 1
    assert "all 5 requested trials ran; give --trials" in refused.stderr
    assert _files(folder) == before  # session.lock too: a refusal does not take the lock
    # a later resume that goes ahead records the cut line and the recovered trial
    assert _rig("resume", str(folder), "--trials", "2", "--seed", "1").returncode == 0
    meta = json.loads((folder / "session.json").read_text())
    (resume,) = meta["resumes"]
    assert resume["cut_lines"] == {"events.jsonl": '{"trial":5,"kin'}
    assert resume["recovered_trials"] == [5]
    assert [r["trial"] for r in _lines(folder / "trials.jsonl")] == [1, 2, 3, 4, 5, 6, 7]
    _lines(folder / "events.jsonl")  # every line parses


def test_a_resume_refused_after_the_check_changes_no_file(
    killed_after_the_last_trial: Path,
) -> None:
    """A refusal at the session's start (here: the simulated mouse's file is unreadable)
    comes before the resume touches the session's files."""
    folder = killed_after_the_last_trial
    (folder.parent / "sim_mouse.json").write_text("not a mouse")
    before = _files(folder)
    refused = _rig("resume", str(folder), "--trials", "2")
    assert refused.returncode == 1 and "not a simulated mouse" in refused.stderr
    assert _files(folder) == before  # session.lock too: a refusal does not take the lock


def test_files_changed_after_the_check_are_not_resumed_blindly(
    killed_after_the_last_trial: Path,
) -> None:
    folder = killed_after_the_last_trial
    point = resume_point(folder)
    with (folder / "operator.jsonl").open("a") as f:
        f.write('{"action":"note","args":{"text":"x"},"host_t":1.0,"after_trial":4}\n')
    with pytest.raises(ResumeError, match="changed since"):
        point.apply()
    assert _lines(folder / "trials.jsonl")[-1]["trial"] == 4
