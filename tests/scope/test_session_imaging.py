"""`rig run` on the simulated imaging rig writes the fake ScanImage's TIFFs into the
session; `rig align` aligns them with no error against the fake's ground truth."""

from __future__ import annotations

import bisect
import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def rig(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rig.cli", *args], capture_output=True, text=True)


@pytest.mark.parametrize("version", ["2016+", "5.0"])  # by aux triggers; by the frame clock
def test_run_then_align(root: Path, tmp_path: Path, version: str) -> None:
    config = tmp_path / "rig.yaml"
    text = (root / "hardware_configs/sim-imaging.yaml").read_text()
    config.write_text(text.replace('  version: "2016+"', f'  version: "{version}"'))
    run = rig("run", "--rig", str(config), "--protocol",
              str(root / "protocols/tactile_T1.yaml"), "--subject", "i1", "--trials", "60",
              "--data-dir", str(tmp_path), "--seed", "5")  # fmt: skip
    assert run.returncode == 0, run.stderr
    (session,) = (p for p in (tmp_path / "i1").iterdir() if p.is_dir())
    meta = json.loads((session / "session.json").read_text())
    assert meta["scope"]["kind"] == "fake" and meta["scope"]["files"]
    assert meta["scope"]["scanimage_version"] == {"2016+": "2022.1.0", "5.0": "5.0"}[version]
    out = rig("align", str(session), str(session / "scope"))
    assert out.returncode == 0, out.stderr
    drift = float(out.stdout.split("(1 ")[1].split(" ppm")[0])
    by = "trial-start triggers" if version == "2016+" else "frame-clock pulses"
    assert abs(drift - 50.0) < 1.0 and by in out.stdout
    truth = json.loads((session / "scope" / "ground_truth.json").read_text())
    device_t, saved = truth["frame_device_t"], truth["saved"]
    records = {r["trial"]: r for r in map(json.loads, (session / "trials.jsonl").open())}
    with (session / "trial_frames.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 60 * 4 * 5
    for row in rows:
        k = bisect.bisect_right(device_t, records[int(row["trial"])]["t_" + row["epoch"]])
        n = k - ((k - 1 - int(row["plane"])) % 5)
        if n <= 0:  # the rig started the acquisition just after trial 1 began (5.0)
            assert row["status"] == "before_start" and version == "5.0"
            continue
        assert (row["status"], int(row["frame_number"])) == ("ok" if saved[n - 1] else "dropped", n)
    info = rig("scope-info", *map(str, sorted((session / "scope").glob("*.tif"))))
    assert info.returncode == 0, info.stderr
    assert {"2016+": "2022.1.0", "5.0": "5.0"}[version] in info.stdout
    assert "frameNumbers has" in info.stdout  # 1 % of frames dropped: the gaps are seen
    planes = next(x for x in info.stdout.splitlines() if x.strip().startswith("planes"))
    assert planes.split()[1] == "5"


def test_a_rig_that_requires_the_microscope_refuses_without_one(root: Path, tmp_path: Path) -> None:
    config = tmp_path / "rig.yaml"
    text = (root / "hardware_configs/sim-imaging.yaml").read_text()
    config.write_text(text.replace("  kind: fake", "  kind: none"))
    run = rig("run", "--rig", str(config), "--protocol", str(root / "protocols/tactile_T1.yaml"),
              "--subject", "i2", "--trials", "5", "--data-dir", str(tmp_path / "d"))  # fmt: skip
    assert run.returncode == 1
    assert "requires the microscope (require_scope: true)" in run.stderr
    assert not (tmp_path / "d" / "i2").exists() or not any((tmp_path / "d" / "i2").iterdir())
    shutil.rmtree(tmp_path / "d", ignore_errors=True)


def test_scope_info_names_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.tif"
    bad.write_bytes(b"II*\0garbage")
    out = rig("scope-info", str(bad))
    assert out.returncode == 1 and "x.tif" in out.stderr


def test_frames_stopping_mid_session_raise_the_alarm_and_the_gap_is_kept(
    root: Path, tmp_path: Path
) -> None:
    from rig.bus import Bus, ScopeAlarm
    from rig.schema import HardwareConfig, Protocol, load_model
    from rig.session.session import SessionRequest, run_session

    data = load_model(root / "hardware_configs/sim-imaging.yaml", HardwareConfig).model_dump(
        mode="json"
    )
    data["scope"]["outage"] = [100.0, 130.0]  # the microscope stops for 30 s of device time
    hardware = HardwareConfig.model_validate(data)
    protocol = load_model(root / "protocols/tactile_T1.yaml", Protocol)
    alarms: list[ScopeAlarm] = []

    def observe(bus: Bus) -> None:
        bus.subscribe(ScopeAlarm, alarms.append)

    out = run_session(SessionRequest(protocol, hardware, "q1", 40, 3, tmp_path), [observe])
    assert [a.connected for a in alarms] == [False, True]
    assert 100.0 < alarms[0].host_t < 101.0  # raised within 1 s of device time
    assert 130.0 <= alarms[1].host_t < 130.1
    meta = json.loads((out.session_dir / "session.json").read_text())
    (gap,) = meta["scope"]["frame_qc"]["gaps"]
    assert 99.9 < gap["from_t"] < 100.0 and 130.0 <= gap["to_t"] < 130.1
    assert gap["missing_frames"] == pytest.approx(900, abs=2)
    assert meta["scope"]["frame_qc"]["short_trials"]  # the trials that lost frames
    records = [json.loads(x) for x in (out.session_dir / "trials.jsonl").open()]
    assert all(r["frames"] > 0 for r in records if r["t_end"] < 100 or r["t_start"] > 130)
