"""``rig resume``: sessions killed (SIGKILL) or stopped by a full disk at chosen points
(``--fault``, counted in device events), then continued in their own folders."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rig.cli import main
from rig.schema.hardware import HardwareConfig
from rig.schema.protocol import Protocol
from rig.session.history import replayed_position
from rig.task.context import ContextTracker

ROOT = Path(__file__).resolve().parents[2]
RIG = [sys.executable, "-m", "rig.cli"]


def _rig(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RIG, *args], capture_output=True, text=True, timeout=300, cwd=ROOT)


def _start(
    data: Path, fault: str, trials: int = 300, seed: int = 4, ends: tuple[int, ...] = (-9, 1)
) -> Path:
    done = _rig("run", "--protocol", "protocols/continual_learning.yaml", "--subject", "m1",
                "--trials", str(trials), "--seed", str(seed), "--data-dir", str(data),
                "--fault", fault)  # fmt: skip
    assert done.returncode in ends, done.stderr
    return next((data / "m1").glob("2*"))


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _meta(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "session.json").read_text())


def test_a_session_killed_mid_trial_resumes_with_nothing_lost(tmp_path: Path) -> None:
    folder = _start(tmp_path, "kill-after-events=5000")
    before = (folder / "trials.jsonl").read_bytes()
    events_before = _lines(folder / "events.jsonl")
    assert _meta(folder)["status"] == "running"
    position = replayed_position(folder, _meta(folder))

    assert main(["resume", str(folder), "--seed", "9"]) == 0
    meta, records = _meta(folder), _lines(folder / "trials.jsonl")
    assert (folder / "trials.jsonl").read_bytes().startswith(before)  # nothing rewritten
    (resume,) = meta["resumes"]
    done_before = before.count(b"\n")
    interrupted = resume["interrupted_trials"]
    assert resume["after_trial"] == done_before and resume["first_trial"] == interrupted[-1] + 1
    # every trial number once, the interrupted one only in the events; 300 were asked for
    numbers = [r["trial"] for r in records]
    assert numbers == [t for t in range(1, 301) if t not in interrupted]
    assert meta["status"] == "completed" and meta["summary"]["trials"] == len(records)
    assert {e["trial"] for e in events_before} >= set(interrupted)
    # one clock: the resumed part starts after the last event plus the gap
    times = [e["t"] for e in _lines(folder / "events.jsonl")]
    assert times == sorted(times)
    first_after = records[done_before]
    assert first_after["t_start"] == pytest.approx(resume["clock_offset_s"] + 0.0001, abs=1e-9)
    assert resume["clock_offset_s"] == round(events_before[-1]["t"] + resume["gap_s"], 4)
    # the curriculum and the trial selection carried on from the files
    tracker = ContextTracker(Protocol.model_validate(meta["protocol"]), position)
    assert first_after["context_label"] == tracker.label
    max_same = meta["protocol"]["trial_selection"]["max_same"]
    sides = [r["instructed"] for r in records]
    runs = [len(list(g)) for _, g in itertools.groupby(sides)]
    assert max(runs) <= max_same
    # the water: every trial's, and the interrupted trial's from its valve events
    water = sum(r["reward_ul"] + r["free_drop_ul"] for r in records)
    assert meta["summary"]["water_ul"] == pytest.approx(water, abs=1e-3)
    assert meta["summary"]["interrupted_water_ul"] == resume["interrupted_water_ul"]


def test_killed_twice_and_resumed_twice(tmp_path: Path) -> None:
    folder = _start(tmp_path, "kill-after-events=3000", trials=200)
    again = _rig("resume", str(folder), "--seed", "1", "--fault", "kill-after-events=4000")
    assert again.returncode == -9
    assert main(["resume", str(folder), "--seed", "2"]) == 0
    meta, records = _meta(folder), _lines(folder / "trials.jsonl")
    assert len(meta["resumes"]) == 2 and meta["status"] == "completed"
    interrupted = [t for r in meta["resumes"] for t in r["interrupted_trials"]]
    assert [r["trial"] for r in records] == [t for t in range(1, 201) if t not in interrupted]
    offsets = [r["clock_offset_s"] for r in meta["resumes"]]
    assert offsets == sorted(offsets)


def test_a_line_cut_short_is_cut_off_and_kept(tmp_path: Path) -> None:
    """A power cut mid-write leaves a line without its end: the resume cuts it off (so the
    files stay one JSON object a line) and keeps it in session.json."""
    folder = _start(tmp_path, "kill-after-events=2000", trials=100)
    with (folder / "trials.jsonl").open("a") as f:
        f.write('{"trial": 99, "cont')
    with (folder / "events.jsonl").open("a") as f:
        f.write('{"trial":')
    assert main(["resume", str(folder)]) == 0
    (resume,) = _meta(folder)["resumes"]
    assert resume["cut_lines"] == {
        "trials.jsonl": '{"trial": 99, "cont',
        "events.jsonl": '{"trial":',
    }
    for name in ("trials.jsonl", "events.jsonl"):
        _lines(folder / name)  # every line parses


def test_a_full_disk_stops_the_session_and_resume_continues_it(tmp_path: Path) -> None:
    folder = _start(tmp_path, "enospc-after-events=3000", trials=150)
    meta = _meta(folder)
    assert meta["status"] == "crashed"
    assert main(["resume", str(folder)]) == 0
    meta = _meta(folder)
    assert meta["status"] == "completed" and meta["resumes"][0]["status_before"] == "crashed"
    numbers = [r["trial"] for r in _lines(folder / "trials.jsonl")]
    assert numbers == sorted(set(numbers)) and numbers[-1] == 150


def test_what_cannot_be_resumed_is_refused_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t1 = str(ROOT / "protocols/tactile_T1.yaml")
    args = ["--subject", "m2", "--trials", "5", "--seed", "1", "--data-dir", str(tmp_path)]
    assert main(["run", "--protocol", t1, *args]) == 0
    folder = next((tmp_path / "m2").glob("2*"))
    capsys.readouterr()
    assert main(["resume", str(folder)]) == 1
    assert f"{folder / 'session.json'}: status 'completed'" in capsys.readouterr().err
    assert main(["resume", str(tmp_path)]) == 1
    assert "is " + str(tmp_path) + " a session folder?" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_code:
        main(["run", "--protocol", t1, "--subject", "m", "--fault", "melt=1"])
    assert exit_code.value.code == 2
    assert "fault 'melt=1': use one of kill-after-events=N" in capsys.readouterr().err


def test_the_interrupted_trial_s_water_is_counted_from_its_valve_events(tmp_path: Path) -> None:
    """Kill right after a reward valve opened and closed: that drop is in the total."""
    probe = _start(tmp_path / "probe", "kill-after-events=100000", trials=20, ends=(0,))
    events = _lines(probe / "events.jsonl")
    trial = next(r for r in _lines(probe / "trials.jsonl") if r["reward_ul"] > 0)
    closed = next(i for i, e in enumerate(events)
                  if e["trial"] == trial["trial"] and e["kind"] == "output"
                  and e["name"].startswith("valve_") and e["value"] == 0)  # fmt: skip
    folder = _start(tmp_path / "run", f"kill-after-events={closed + 1}", trials=20)
    assert main(["resume", str(folder)]) == 0
    resume = _meta(folder)["resumes"][0]
    assert resume["interrupted_trials"] == [trial["trial"]]
    hardware = HardwareConfig.model_validate(_meta(folder)["hardware"])
    expected = sum(hardware.delivered_ul(v["side"], v["open_s"]) for v in trial["valves"]
                   if v["t"] <= events[closed]["t"])  # fmt: skip
    assert expected > 0
    assert resume["interrupted_water_ul"] == pytest.approx(expected, abs=1e-3)


def test_a_trial_that_ended_just_before_the_kill_is_recovered(
    tmp_path: Path,
) -> None:
    """The kill lands after a trial's last events were written and before its line was: the
    resume rebuilds the line from the events and the trial's plan (plans.jsonl), the same as
    an uninterrupted run wrote it. (The curriculum switch it caused was written when the
    outcome was decided, before the trial's end.)"""
    args = ["run", "--protocol", "tests/data/quick_contexts.yaml", "--subject", "m1",
            "--trials", "40", "--seed", "3"]  # fmt: skip
    assert _rig(*args, "--data-dir", str(tmp_path / "whole")).returncode == 0
    whole = next((tmp_path / "whole" / "m1").glob("2*"))
    events = _lines(whole / "events.jsonl")
    end_of_30 = next(
        i for i, e in enumerate(events) if e["trial"] == 30 and e["kind"] == "trial_end"
    )
    killed = _rig(*args, "--data-dir", str(tmp_path / "cut"), "--fault",
                  f"kill-after-events={end_of_30 + 1}")  # fmt: skip
    assert killed.returncode == -9
    folder = next((tmp_path / "cut" / "m1").glob("2*"))
    assert len(_lines(folder / "trials.jsonl")) == 29  # trial 30's line was never written
    assert main(["resume", str(folder)]) == 0
    (resume,) = _meta(folder)["resumes"]
    assert resume["recovered_trials"] == [30] and resume["interrupted_trials"] == []
    assert resume["recovered_switches"] == []
    recovered = _lines(folder / "trials.jsonl")[29]
    assert recovered.pop("recovered_by_resume") is True
    assert recovered == _lines(whole / "trials.jsonl")[29]
    assert _meta(folder)["context_switches"][0] == _meta(whole)["context_switches"][0]


def test_a_slow_disk_is_counted_and_logged_and_nothing_is_lost(tmp_path: Path) -> None:
    done = _rig("run", "--protocol", "protocols/tactile_T1.yaml", "--subject", "m1",
                "--trials", "1", "--seed", "1", "--data-dir", str(tmp_path),
                "--fault", "slow-writes-ms=110")  # fmt: skip
    assert done.returncode == 0
    assert "slow disk: writing events took 11" in done.stderr
    folder = next((tmp_path / "m1").glob("2*"))
    meta = _meta(folder)
    events = _lines(folder / "events.jsonl")
    assert meta["status"] == "completed" and len(_lines(folder / "trials.jsonl")) == 1
    assert 0 < meta["slow_writes"]["count"] <= len(events)
    assert 110 <= meta["slow_writes"]["max_ms"] < 1000
