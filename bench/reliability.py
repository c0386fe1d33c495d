"""Reliability figures (issue 8), for docs/reliability.md.

1. The controller killed (SIGKILL) at 50 random points: 50 sessions of 100 trials of the
   continual-learning curriculum on the simulated rig, each with its own seed, an fsync
   per trial (the real-time policy, ``rig run --fsync``), killed after a random number of
   device events (``--fault kill-after-events=N``, N uniform over the whole session), then
   ``rig resume``. Counted: trials that had ended on the device before the kill but are
   missing afterwards (target 0), device events published but not in the file (target 0),
   events written after the last fsync (what a power cut at that moment could take), and
   resumes that completed the session with every trial number once (target 100 %).
2. A 6-hour simulated session (virtual time): memory (RSS) and dead time at the start and
   the end.
"""

from __future__ import annotations

import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
KILLS, TRIALS = 50, 100


def _rig(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "rig.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def kills() -> dict[str, Any]:
    rng = random.Random(50)
    lost_trials = lost_events = resumed = 0
    exposed: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(KILLS):
            common = ["run", "--protocol", "protocols/continual_learning.yaml", "--subject",
                      "m", "--trials", str(TRIALS), "--seed", str(i), "--fsync"]  # fmt: skip
            whole = Path(tmp) / f"whole{i}"
            assert _rig(*common, "--data-dir", str(whole)).returncode == 0
            total = len(_lines(next((whole / "m").glob("2*")) / "events.jsonl"))
            cut = Path(tmp) / f"cut{i}"
            n = rng.randint(1, total - 1)
            killed = _rig(*common, "--data-dir", str(cut), "--fault", f"kill-after-events={n}")
            folder = next((cut / "m").glob("2*"))
            events = _lines(folder / "events.jsonl")
            said = re.search(r"SIGKILL after (\d+) device events", killed.stderr)
            published = int(said.group(1)) if said else len(events)
            lost_events += published - len(events)
            ended = {e["trial"] for e in events if e["kind"] == "trial_end" and e["trial"]}
            last_end = max(
                (j for j, e in enumerate(events) if e["kind"] == "trial_end"), default=-1
            )
            exposed.append(len(events) - 1 - last_end)
            done = _rig("resume", str(folder))
            records = _lines(folder / "trials.jsonl")
            numbers = [r["trial"] for r in records]
            lost_trials += len(ended - set(numbers))
            meta = json.loads((folder / "session.json").read_text())
            gone = {t for r in meta.get("resumes", []) for t in r["interrupted_trials"]}
            ok = done.returncode == 0 and meta["status"] == "completed"
            resumed += ok and numbers == [t for t in range(1, TRIALS + 1) if t not in gone]
    return {
        "kills": KILLS,
        "completed_trials_lost": lost_trials,
        "events_lost": lost_events,
        "events_after_the_last_fsync_median": statistics.median(exposed),
        "events_after_the_last_fsync_max": max(exposed),
        "resume_success_percent": round(100 * resumed / KILLS, 1),
    }


def six_hours() -> dict[str, Any]:
    from rig.bus import Bus, TrialCompleted
    from rig.schema import HardwareConfig, Protocol, load_model
    from rig.session.session import SessionRequest, run_session

    rss: list[tuple[int, float]] = []
    records: list[dict[str, Any]] = []

    def watch(bus: Bus) -> None:
        def on_trial(done: TrialCompleted) -> None:
            records.append({k: done.record[k] for k in ("trial", "t_end", "dead_time_ms")})
            if done.record["trial"] % 100 == 0:
                rss.append((done.record["trial"], _rss_mb()))

        bus.subscribe(TrialCompleted, on_trial)

    with tempfile.TemporaryDirectory() as tmp:
        request = SessionRequest(
            load_model(ROOT / "protocols/continual_learning.yaml", Protocol),
            load_model(ROOT / "hardware_configs/sim.yaml", HardwareConfig),
            "six", 2700, 6, Path(tmp),
        )  # fmt: skip
        run_session(request, [watch])
    dead = [r["dead_time_ms"] for r in records if r["dead_time_ms"] is not None]
    return {
        "trials": len(records),
        "simulated_hours": round(records[-1]["t_end"] / 3600, 2),
        "rss_mb_at_trial_100": rss[0][1],
        "rss_mb_at_the_end": rss[-1][1],
        "rss_mb_by_100_trials": [mb for _, mb in rss],
        "dead_time_ms_first_100_mean": round(statistics.mean(dead[:100]), 3),
        "dead_time_ms_last_100_mean": round(statistics.mean(dead[-100:]), 3),
    }


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def run() -> dict[str, Any]:
    return {"killed_at_random_points": kills(), "six_hour_session": six_hours()}
