"""Trial-to-frame alignment of one hour of imaging at 30 Hz (108,000 frames, headers only).

The fake ScanImage writes an hour's acquisition (1 channel, 5 planes, 2,000 frames per
file, 8 x 8 px pages, 50 ppm drift, 1 % dropped frames) for a synthetic 399-trial
session; then ``rig.scope.align.align`` runs end to end (file metadata, every frame
header, trigger matching, clock fit, 399 x 4 x 5 rows written, with each plane's movie
frame). Reported beside it: the
time to read every page's description with ScanImageTiffReader and with tifffile, for the
same files (the aligner walks the IFDs itself, over a memory map, and reads four keys).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from rig.scope.align import align
from rig.sim.scope import ScopeSettings, acquire

TRIALS = 399


def run() -> dict[str, Any]:
    import tifffile
    from ScanImageTiffReader import ScanImageTiffReader

    with tempfile.TemporaryDirectory() as tmp:
        session, tiffs = Path(tmp) / "session", Path(tmp) / "scope"
        session.mkdir()
        starts = [1.0 + 9.0 * i for i in range(TRIALS)]
        lines = [
            {"trial": i + 1, "t_start": t, "t_sample": t + 1.58, "t_delay": t + 2.88,
             "t_go": t + 4.18}
            for i, t in enumerate(starts)
        ]  # fmt: skip
        (session / "trials.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
        (session / "events.jsonl").write_text("")
        settings = ScopeSettings(offset_s=2.0, drift_ppm=50.0, drop_fraction=0.01,
                                 jitter_s=1e-4, frames_per_file=2000)  # fmt: skip
        t0 = time.perf_counter()
        acq = acquire(settings, tiffs, 0.0, 3600.0, starts, seed=1)
        write_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = align(session, tiffs)
        align_s = time.perf_counter() - t0
        files = sorted(tiffs.glob("*.tif"))
        t0 = time.perf_counter()
        pages = 0
        for f in files:
            with ScanImageTiffReader(str(f)) as reader:
                for i in range(reader.shape()[0]):
                    reader.description(i)
                    pages += 1
        sitr_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for f in files:
            with tifffile.TiffFile(f) as tf:
                for page in tf.pages:
                    _ = page.description
        tifffile_s = time.perf_counter() - t0
    return {
        "frames_acquired": len(acq.frame_device_t),
        "pages_saved": pages,
        "files": len(files),
        "align_wall_s": round(align_s, 3),
        "target_s": 3.0,
        "descriptions_scanimage_tiff_reader_s": round(sitr_s, 3),
        "descriptions_tifffile_s": round(tifffile_s, 3),
        "fake_scanimage_write_s": round(write_s, 3),
        "fit_residual_max_ms": round(result.fit.residual_max_s * 1000, 6),
        "triggers_matched": result.fit.pairs,
        "rows": len(result.rows),
    }
