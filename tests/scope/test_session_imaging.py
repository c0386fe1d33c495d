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


def rig(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rig.cli", *args], capture_output=True, text=True)


def test_run_then_align(root: Path, tmp_path: Path) -> None:
    run = rig("run", "--rig", str(root / "hardware_configs/sim-imaging.yaml"), "--protocol",
              str(root / "protocols/tactile_T1.yaml"), "--subject", "i1", "--trials", "60",
              "--data-dir", str(tmp_path), "--seed", "5")  # fmt: skip
    assert run.returncode == 0, run.stderr
    (session,) = (p for p in (tmp_path / "i1").iterdir() if p.is_dir())
    meta = json.loads((session / "session.json").read_text())
    assert meta["scope"]["kind"] == "fake" and meta["scope"]["files"]
    out = rig("align", str(session), str(session / "scope"))
    assert out.returncode == 0, out.stderr
    assert "+50.00 ppm" in out.stdout and "trial-start triggers" in out.stdout
    truth = json.loads((session / "scope" / "ground_truth.json").read_text())
    device_t, saved = truth["frame_device_t"], truth["saved"]
    records = {r["trial"]: r for r in map(json.loads, (session / "trials.jsonl").open())}
    with (session / "trial_frames.csv").open() as f:
        f.readline()
        rows = list(csv.DictReader(f))
    assert len(rows) == 60 * 4 * 5
    for row in rows:
        k = bisect.bisect_right(device_t, records[int(row["trial"])]["t_" + row["epoch"]])
        n = k - ((k - 1 - (int(row["plane"]) - 1)) % 5)
        assert (row["status"], int(row["frame"])) == ("ok" if saved[n - 1] else "dropped", n)
    info = rig("scope-info", *map(str, sorted((session / "scope").glob("*.tif"))))
    assert info.returncode == 0 and "ScanImage 2016+, 30.0 Hz, 5 plane(s)" in info.stdout


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
