"""Run every benchmark and write the figures to ``bench/out/<name>.json``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench import (
    bpod,
    bpod_rapid,
    bpod_realtime,
    fuzz,
    gui,
    lickport,
    link_loss,
    nwb,
    registry,
    reliability,
    scope,
    scope_link,
    sim_speed,
)

BENCHMARKS = {
    "sim_speed": sim_speed.run,
    "bpod": bpod.run,
    "bpod_rapid": bpod_rapid.run,
    "gui": gui.run,
    "scope": scope.run,
    "scope_link": scope_link.run,
    "lickport": lickport.run,
    "link_loss": link_loss.run,
    "registry": registry.run,
    "nwb": nwb.run,
}
# run by name only: about 13, 3 and 4 minutes
LONG = {"bpod_realtime": bpod_realtime.run, "fuzz": fuzz.run, "reliability": reliability.run}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    for name in names:
        figures = {**BENCHMARKS, **LONG}[name]()
        (out / f"{name}.json").write_text(json.dumps(figures, indent=2) + "\n")
        print(f"== {name}")
        for key, value in figures.items():
            print(f"  {key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
