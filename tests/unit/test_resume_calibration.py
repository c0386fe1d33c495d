"""A session resumed after its valve was recalibrated runs on the new calibration, says
so, and its machines still rebuild (before: the old calibration, 5.5 uL for 2.5 asked)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rig.control.calibration import save_calibration
from rig.export.machines import rebuild_machines
from rig.schema.hardware import HardwareConfig
from rig.task.builder import valve_open_s

ROOT = Path(__file__).resolve().parents[2]
DOUBLED = [(0.01, 1.4), (0.02, 3.2), (0.04, 6.8), (0.08, 14.2)]  # valve_left's volumes x2


def _rig(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rig.cli", *args], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)  # fmt: skip


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _left_openings(events: list[dict[str, Any]], trials: set[int]) -> list[float]:
    opened, out = 0.0, []
    for e in events:
        if e["kind"] == "output" and e["name"] == "valve_left" and e["trial"] in trials:
            if e["value"]:
                opened = e["t"]
            else:
                out.append(round(e["t"] - opened, 4))
    return out


def test_a_resume_takes_the_valve_s_newer_calibration_and_warns(tmp_path: Path) -> None:
    rig = tmp_path / "sim.yaml"
    shutil.copy(ROOT / "hardware_configs/sim.yaml", rig)
    killed = _rig("run", "--rig", str(rig), "--protocol", "protocols/tactile_T1.yaml",
                  "--subject", "m1", "--trials", "80", "--seed", "2", "--data-dir",
                  str(tmp_path / "data"), "--fault", "kill-after-events=1500")  # fmt: skip
    assert killed.returncode == -9, killed.stderr
    folder = next((tmp_path / "data/m1").glob("2*"))
    before = json.loads((folder / "session.json").read_text())["hardware"]["valves"]
    recalibrated = dt.date.fromisoformat(before["valve_left"]["date"]) + dt.timedelta(days=3)
    new = save_calibration(rig, "valve_left", DOUBLED, recalibrated)

    resumed = _rig("resume", str(folder), "--seed", "5")
    assert resumed.returncode == 0, resumed.stderr
    assert "valve_left was recalibrated on" in resumed.stderr
    meta = json.loads((folder / "session.json").read_text())
    (entry,) = meta["resumes"]
    assert set(entry["valves"]) == {"valve_left"}  # the right valve was not recalibrated
    assert entry["valves"]["valve_left"]["date"] == recalibrated.isoformat()
    assert any("new calibration" in w for w in entry["warnings"])
    # the resumed trials open the left valve for 2.5 uL by the new calibration
    records = _lines(folder / "trials.jsonl")
    events = _lines(folder / "events.jsonl")
    first = entry["first_trial"]
    after = {r["trial"] for r in records if r["trial"] >= first and r["reward_ul"] > 0}
    openings = set(_left_openings(events, after))
    assert openings == {valve_open_s(new, "left", 2.5)}
    old = HardwareConfig.model_validate(meta["hardware"])  # the session's snapshot
    assert valve_open_s(old, "left", 2.5) not in openings  # 5.5 uL on the valve as it is now
    for r in records:
        if r["trial"] >= first and r["reward_ul"] > 0:
            assert r["reward_ul"] == pytest.approx(2.5, abs=0.05)
    # each trial's machine is rebuilt from the calibration it ran with
    table = rebuild_machines(meta, records, _lines(folder / "operator.jsonl"))
    assert table.not_rebuilt == []
