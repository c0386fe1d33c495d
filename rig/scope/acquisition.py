"""One acquisition's ScanImage files, read as an analysis loads them.

The files are taken in natural order (``x_00001_00002.tif`` before ``x_00001_00010.tif``),
as suite2p and CaImAn take them. Each saved frame gets its plane and its **movie frame**:
the 0-based index of that frame in its plane's movie (all of that plane's frames, over the
files in order): the volume index suite2p's ``F.npy`` columns and CaImAn's per-plane
``subindices`` use. A plane comes from ScanImage's frame counter, as ScanImage itself
derives it (``(frameNumbers - 1) mod (planes + flyback)``), not from page order, so a frame
the files lack shifts nothing after it; such gaps, and an acquisition that ends mid-volume,
are flagged, because an analysis that de-interleaves by page order (suite2p does) puts
every page after a gap on the wrong plane.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

from rig.scope.frames import read_groups
from rig.scope.header import FileHeader, read_header
from rig.scope.tiff import ScopeFileError

SAME_IN_EVERY_FILE = ("version", "planes", "flyback_frames", "channels", "averaging",
                      "frame_rate_hz", "stack")  # fmt: skip


def natural_key(path: Path) -> list[object]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", path.name)]


@dataclass(frozen=True)
class Frame:
    """One saved frame of the acquisition (all its channels' pages)."""

    number: int  # ScanImage's frameNumbers (1-based; averaged: the group's last raw frame)
    t: float  # scope seconds from the acquisition's start (the header's, else nominal)
    file: str
    page: int  # 0-based page of its first channel in the file
    plane: int | None  # 0-based; None: a flyback frame
    movie_frame: int  # 0-based index in its plane's movie
    aux: tuple[float, ...]


@dataclass
class FileSummary:
    name: str
    pages: int
    frames: int
    frames_per_plane: list[int]  # as suite2p's frames_per_file, per plane


@dataclass
class Acquisition:
    header: FileHeader  # the first file's
    frames: list[Frame]  # in file order
    files: list[FileSummary]
    numbered: bool  # the frames carry ScanImage's frame numbers (not 3.x)
    timed: bool  # the frames carry timestamps (not 3.x, 4.x)
    gaps: list[tuple[int, int]] = field(default_factory=list)  # (last number before, missing)
    flags: list[str] = field(default_factory=list)  # what an analysis must know
    problems: list[str] = field(default_factory=list)  # what makes the files unusable

    @property
    def cycle(self) -> int:
        """Raw frames per volume: planes + flyback (a fast stack), or the averaging factor
        (planar)."""
        h = self.header
        return h.planes + h.flyback if h.planes > 1 else h.averaging

    @property
    def triggers(self) -> list[float]:
        return sorted({t for f in self.frames for t in f.aux})

    @property
    def volume_rate_hz(self) -> float | None:
        rate = self.header.frame_rate_hz
        return None if rate is None else rate / self.cycle


def plane_of(header: FileHeader, number: int) -> tuple[int | None, int]:
    """(plane, volume) of raw frame ``number`` (1-based): plane None for flyback."""
    if header.planes == 1:
        return 0, (number - 1) // header.averaging
    cycle = header.planes + header.flyback
    pos = (number - 1) % cycle
    return (pos if pos < header.planes else None), (number - 1) // cycle


def _differences(first: FileHeader, other: FileHeader) -> list[str]:
    return [
        f"{other.path.name}: {k} = {other.get(k)!r} ({other.derived[k].source}), but "
        f"{first.path.name} says {first.get(k)!r}"
        for k in SAME_IN_EVERY_FILE
        if other.get(k) != first.get(k)
    ]


def load_acquisition(paths: list[Path]) -> Acquisition:
    """The acquisition held by ``paths`` (ScanImage TIFFs of one acquisition)."""
    if not paths:
        raise ScopeFileError("no ScanImage files given")
    paths = sorted(paths, key=natural_key)
    first = read_header(paths[0])
    acq = Acquisition(first, [], [], numbered=False, timed=False)
    acq.problems += first.problems
    rate = first.frame_rate_hz
    if first.stack == "slow":
        acq.problems.append(
            f"{paths[0].name}: a slow stack ({first.derived['stack'].source}): each plane is "
            "its own acquisition, not a time series; split it per plane"
        )
    counts: dict[int | None, int] = {}
    g = 0  # saved frames so far
    for path in paths:
        header = first if path == paths[0] else read_header(path)
        if header is not first:
            acq.problems += header.problems + _differences(first, header)
        groups, problems = read_groups(path, len(first.channels))
        acq.problems += problems
        per_plane = [0] * first.planes
        for group in groups:
            g += 1
            number = group.number if group.number is not None else g * first.averaging
            plane, _ = plane_of(first, number)
            t = group.t
            if t is None:
                t = (number - 1) / rate if rate else 0.0
            acq.frames.append(Frame(number, t, path.name, group.page, plane, counts.get(plane, 0),
                                    group.aux))  # fmt: skip
            counts[plane] = counts.get(plane, 0) + 1
            if plane is not None:
                per_plane[plane] += 1
        acq.numbered = acq.numbered or any(gr.number is not None for gr in groups)
        acq.timed = acq.timed or any(gr.t is not None for gr in groups)
        pages = groups[-1].page + groups[-1].pages if groups else 0
        acq.files.append(FileSummary(path.name, pages, len(groups), per_plane))
    _check_counts(acq)
    return acq


def _check_counts(acq: Acquisition) -> None:
    """Gaps in the frame numbers; an acquisition that starts late or ends mid-volume."""
    frames, step = acq.frames, acq.header.averaging
    if not frames:
        acq.problems.append("the files hold no frames")
        return
    for a, b in itertools.pairwise(frames):
        if b.number <= a.number:
            acq.problems.append(
                f"{b.file} page {b.page}: frame {b.number} after frame {a.number} "
                f"({a.file} page {a.page}): the files are not one acquisition in order"
            )
            return
        if b.number - a.number != step:
            acq.gaps.append((a.number, (b.number - a.number) // step - 1))
    if acq.gaps:
        missing = sum(n for _, n in acq.gaps)
        acq.flags.append(
            f"frameNumbers has {len(acq.gaps)} gap(s), {missing} frame(s) acquired but not "
            f"in the files (first after frame {acq.gaps[0][0]}): an analysis that "
            "de-interleaves by page order (suite2p, CaImAn) puts the pages after a gap on "
            "the wrong plane; movie_frame counts each plane's frames by their headers"
        )
    if frames[0].number != step:
        acq.flags.append(f"the first frame in the files is frame {frames[0].number}, not {step}")
    cycle = acq.cycle
    if acq.header.planes > 1 and frames[-1].number % cycle:
        k = frames[-1].number % cycle
        if k >= acq.header.planes:
            acq.flags.append(
                f"the acquisition ends in the flyback of its last volume ({k} of {cycle} "
                "frames): every plane has its frame"
            )
            return
        more = "plane 0 has" if k == 1 else f"planes 0-{k - 1} have"
        acq.flags.append(
            f"the acquisition ends mid-volume: its last volume has {k} of {cycle} frames "
            f"({more} one frame more than the rest)"
        )
