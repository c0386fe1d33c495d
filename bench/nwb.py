"""NWB figure (issue 7): exporting a 500-trial session (wall seconds, file size).

The session runs on the simulated rig with the fake ScanImage (30 Hz frame clock, 5 planes),
so ``events.jsonl`` holds the frame-clock pulses and ``rig align`` writes the trial-to-frame
table: the size of a real imaging day's session. The export is timed 3 times; pynwb's
validation is timed apart.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rig.cli import main
from rig.export.nwb import export_session

ROOT = Path(__file__).resolve().parents[1]
TRIALS = 500


def run() -> dict[str, Any]:
    from pynwb import validate

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        args = ["run", "--rig", str(ROOT / "hardware_configs/sim-imaging.yaml"), "--protocol",
                str(ROOT / "protocols/continual_learning.yaml"), "--subject", "m1", "--trials",
                str(TRIALS), "--seed", "1", "--data-dir", str(data)]  # fmt: skip
        assert main(args) == 0
        session = next((data / "m1").glob("2*"))
        assert main(["align", str(session), str(session / "scope")]) == 0
        sizes = {p.name: p.stat().st_size for p in session.iterdir() if p.is_file()}
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            out = export_session(session, data / "m1.nwb")
            times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        errors = validate(path=out)
        validate_s = time.perf_counter() - t0
        return {
            "trials": TRIALS,
            "events": sum(1 for _ in (session / "events.jsonl").open()),
            "export_s_median_of_3": round(statistics.median(times), 2),
            "export_s_max": round(max(times), 2),
            "nwb_mb": round(out.stat().st_size / 1e6, 2),
            "session_files_mb": round(sum(sizes.values()) / 1e6, 2),
            "validation_errors": len(errors),
            "validate_s": round(validate_s, 2),
        }
