"""The T1 task for 100 real-time trials on each emulated Bpod profile, through the real
client over ptys (``rig run --rig <bpod-emulator config>``), the three in parallel.

About 13 minutes; not in the default ``make bench`` list: ``python -m bench bpod_realtime``.
Reports, per profile: trials completed, outcomes, dead time per queued trial (device
clock), whether every event time is a whole device cycle, and the session's status.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ("r2-fw22", "r2-fw23", "2plus-fw23")
TRIALS = 100


def summarize(session: Path) -> dict[str, Any]:
    records = [json.loads(x) for x in (session / "trials.jsonl").read_text().splitlines()]
    events = [json.loads(x) for x in (session / "events.jsonl").read_text().splitlines()]
    dead = [r["dead_time_ms"] for r in records[1:]]
    outcomes = {k: sum(r["outcome"] == k for r in records) for k in ("hit", "error", "no_response")}
    return {
        "trials": len(records),
        "outcomes": outcomes,
        "dead_time_ms": sorted(set(dead)),
        "events": len(events),
        "cycle_exact": all(abs(e["t"] * 10_000 - round(e["t"] * 10_000)) < 1e-6 for e in events),
        "status": json.loads((session / "session.json").read_text())["status"],
    }


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        base = (ROOT / "hardware_configs/bpod-emulator.yaml").read_text()
        runs = {}
        for profile in PROFILES:
            config = Path(tmp) / f"{profile}.yaml"
            config.write_text(base.replace("profile=r2-fw23", f"profile={profile}"))
            runs[profile] = subprocess.Popen(
                [sys.executable, "-m", "rig.cli", "run", "--rig", str(config),
                 "--protocol", "protocols/tactile_T1.yaml", "--subject", profile,
                 "--trials", str(TRIALS), "--seed", "7", "--data-dir", f"{tmp}/data"],
                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        for process in runs.values():
            process.wait()
        return {
            profile: summarize(next(Path(tmp, "data", profile).glob("2*"))) for profile in PROFILES
        }
