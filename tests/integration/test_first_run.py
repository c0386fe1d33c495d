"""A clean first run: ``make run`` with no display runs the headless simulated session
(the command its no-display branch calls, with the Makefile's own arguments) and prints no
warning, on today's date and on one two years on (the shipped rig's valves are simulated:
their calibration never goes stale)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import subprocess
import types
from pathlib import Path

import pytest

import rig.cli

WARNING = re.compile(r"warn", re.IGNORECASE)


def _run_args(root: Path) -> list[str]:
    """The Makefile's RUN_ARGS: what `make run` passes `rig run` without a display."""
    show = "rig-run-args: ; @echo $(RUN_ARGS)"
    out = subprocess.run(
        ["make", "-s", "--no-print-directory", "-C", str(root), "--eval", show, "rig-run-args"],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    return shlex.split(out.stdout)


def _no_warnings(output: str) -> None:
    lines = output.replace("\r", "\n").splitlines()
    assert [line for line in lines if WARNING.search(line)] == []


def test_make_run_without_a_display_prints_no_warning(root: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    args = [*_run_args(root), "--data-dir", str(data)]  # the last --data-dir is the one
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "WAYLAND", "DISPLAY"))}
    env |= {"HOME": str(tmp_path), "PYTHONWARNINGS": "default"}  # warnings Python hides too
    run = subprocess.run(
        # -o: the venv counts as set up (this test does not reinstall the project)
        ["make", "-s", "--no-print-directory", "-C", str(root), "-o", ".venv/.installed",
         "run", f"RUN_ARGS={shlex.join(args)}"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "(completed)" in run.stdout
    _no_warnings(run.stdout + run.stderr)
    (session,) = (data / "demo-mouse").glob("*/session.json")
    assert json.loads(session.read_text())["warnings"] == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # nothing in HOME


def test_rig_run_two_years_on_prints_no_warning(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    later = dt.date.today() + dt.timedelta(days=2 * 365)

    class Later(dt.date):
        @classmethod
        def today(cls) -> Later:
            return cls(later.year, later.month, later.day)

    monkeypatch.setattr(rig.cli, "dt", types.SimpleNamespace(date=Later))
    monkeypatch.chdir(root)
    args = _run_args(root)
    args[args.index("--trials") + 1] = "20"
    assert rig.cli.main(["run", *args, "--data-dir", str(tmp_path / "data")]) == 0
    out = capsys.readouterr()
    assert "(completed)" in out.out
    _no_warnings(out.out + out.err)
