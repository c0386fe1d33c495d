"""Registry figure (issue 7): reindexing a data folder of 200 sessions (~60,000 trials).

Four simulated mice run 50 sessions of 300 trials each of the continual-learning
curriculum (virtual time); then the registry is deleted and rebuilt from the folders.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rig.cli import main
from rig.subjects.registry import DB_NAME, Registry

ROOT = Path(__file__).resolve().parents[1]
MICE, SESSIONS, TRIALS = 4, 50, 300


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        started = time.perf_counter()
        for mouse in range(MICE):
            for session in range(SESSIONS):
                args = ["--subject", f"m{mouse}", "--trials", str(TRIALS), "--seed",
                        str(1000 * mouse + session), "--data-dir", str(data)]  # fmt: skip
                rig = ["--rig", str(ROOT / "hardware_configs/sim.yaml")]
                protocol = ["--protocol", str(ROOT / "protocols/continual_learning.yaml")]
                assert main(["run", *rig, *protocol, *args]) == 0
        simulated_s = time.perf_counter() - started
        times = []
        for _ in range(5):
            (data / DB_NAME).unlink()
            t0 = time.perf_counter()
            with Registry(data) as registry:
                indexed = registry.reindex()
            times.append(time.perf_counter() - t0)
        with Registry(data) as registry:
            trials = sum(s["trials"] for m in range(MICE) for s in registry.sessions(f"m{m}"))
    return {
        "sessions": indexed,
        "trials": trials,
        "reindex_s_median_of_5": round(statistics.median(times), 3),
        "reindex_s_max": round(max(times), 3),
        "simulating_the_sessions_s": round(simulated_s, 1),
    }
