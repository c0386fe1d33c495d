"""``rig scope-info``: what one acquisition's ScanImage files hold, each value with the
header key it came from (``--json`` for scripts)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rig.scope.acquisition import Acquisition, load_acquisition
from rig.scope.tiff import ScopeFileError

LABELS = {
    "version": "version",
    "planes": "planes",
    "flyback_frames": "flyback frames",
    "configured_slices": "slices configured",
    "stack": "stack",
    "channels": "channels saved",
    "averaging": "averaging",
    "frame_rate_hz": "frame rate (Hz)",
    "frames_per_file": "frames per file",
}
COUNTERS = re.compile(r"((?:_?\d{3,5})+)$")


def scope_files(names: list[str]) -> list[Path]:
    """The TIFFs named, a folder standing for the TIFFs in it."""
    out: list[Path] = []
    for name in names:
        path = Path(name)
        if path.is_dir():
            found = [p for p in path.iterdir() if p.suffix.lower() in (".tif", ".tiff")]
            if not found:
                raise ScopeFileError(f"{path}: no .tif files")
            out += found
        else:
            out.append(path)
    return out


def counters(name: str) -> list[int]:
    """The file-name counters ScanImage appends: acquisition, then file (``x_00001_00002``)."""
    m = COUNTERS.search(Path(name).stem)
    return [int(c) for c in re.findall(r"\d+", m.group(1))] if m else []


def describe(acq: Acquisition) -> dict[str, Any]:
    h, frames = acq.header, acq.frames
    derived = {k: {"value": d.value, "source": d.source} for k, d in h.derived.items()}
    derived["generation"] = {"value": h.generation, "source": _generation_source(acq)}
    derived["volume_rate_hz"] = {
        "value": acq.volume_rate_hz,
        "source": "frame rate / (planes + flyback)" if h.planes > 1 else "frame rate / averaging",
    }
    stamps = "frameTimestamps_sec" if acq.timed else "nominal: (frame - 1) / frame rate"
    return {
        "derived": derived,
        "frames": {
            "saved": len(frames),
            "pages": sum(f.pages for f in acq.files),
            "first_number": frames[0].number if frames else None,
            "last_number": frames[-1].number if frames else None,
            "numbers_from": "frameNumbers" if acq.numbered else "page order (no frame headers)",
            "first_t": frames[0].t if frames else None,
            "last_t": frames[-1].t if frames else None,
            "times_from": stamps,
            "aux_triggers": len(acq.triggers),
            "gaps": [{"after_frame": a, "missing": n} for a, n in acq.gaps],
        },
        "files": [
            {
                "name": f.name,
                "counters": counters(f.name),
                "pages": f.pages,
                "frames": f.frames,
                "frames_per_plane": f.frames_per_plane,
            }
            for f in acq.files
        ],
        "flags": acq.flags,
        "problems": acq.problems,
    }


def _generation_source(acq: Acquisition) -> str:
    h = acq.header
    if h.generation == "3.x":
        return "state.* lines on the first page"
    if h.generation in ("4.x", "5.0"):
        return f"scanimage.SI{h.generation[0]}.* lines on each page"
    if h.generation == "2015":
        return "scanimage.SI.* lines on each page"
    return "the 2016+ header block after the BigTIFF header"


def text(report: dict[str, Any]) -> str:
    d, fr = report["derived"], report["frames"]
    width = 22
    files = report["files"]
    last = f" ... {files[-1]['name']}" if len(files) > 1 else ""
    lines = [f"{len(files)} file(s): {files[0]['name']}{last}"]
    for key in ("version", "generation", *list(LABELS)[1:], "volume_rate_hz"):
        if key in d:
            label = LABELS.get(key, key.replace("_hz", " (Hz)").replace("_", " "))
            value = d[key]["value"]
            lines.append(f"  {label:<{width}}{value!s:<14}from {d[key]['source']}")
    lines.append(
        f"  {'frames':<{width}}{fr['saved']:<14}in {fr['pages']} pages; numbers "
        f"{fr['first_number']}..{fr['last_number']} from {fr['numbers_from']}"
    )
    if fr["first_t"] is not None:
        lines.append(
            f"  {'first, last (s)':<{width}}{fr['first_t']:.4f}, {fr['last_t']:.4f}  from "
            f"{fr['times_from']}"
        )
    lines.append(f"  {'aux triggers':<{width}}{fr['aux_triggers']:<14}from auxTrigger0")
    for f in report["files"]:
        lines.append(
            f"  file {f['name']}: counters {f['counters']}, {f['frames']} frames, per plane "
            f"{f['frames_per_plane']}"
        )
    lines += [f"  flag: {x}" for x in report["flags"]]
    lines += [f"  PROBLEM: {x}" for x in report["problems"]]
    return "\n".join(lines)


def scope_info(names: list[str]) -> dict[str, Any]:
    return describe(load_acquisition(scope_files(names)))
