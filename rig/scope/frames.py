"""A ScanImage file's saved frames: its pages grouped by the frame header they share.

All pages of one frame (one per saved channel, in ``channelSave`` order) carry the same
frame header, so a run of pages with one ``frameNumbers`` is one frame, and the run's
length is the number of channels: checked against the header's, a disagreement reported
(never guessed over). The keys are read straight from each page's ImageDescription:

- 2015 and later: ``frameNumbers``, ``frameTimestamps_sec``, ``acquisitionNumbers``,
  ``auxTrigger0 = [t1 t2 ...]``;
- 5.0: ``Frame Number``, ``Frame Timestamp(s)``; 4.x: ``Frame Tag`` only;
- 3.x: no frame header at all: the pages are grouped by the channel count, in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rig.scope.tiff import ScopeFileError, mapped, page_spans

# ScanImage pads some values (5.0: ``Frame Number =                2``)
NUMBER = re.compile(rb"(?:frameNumbers|Frame Number|Frame Tag)[ \t]*=[ \t]*(\d+)")
STAMP = re.compile(rb"(?:frameTimestamps_sec|Frame Timestamp\(s\))[ \t]*=[ \t]*([-+\d.eE]+)")
AUX = re.compile(rb"auxTrigger0[ \t]*=[ \t]*\[([^\]]*)\]")
ACQUISITION = re.compile(rb"acquisitionNumbers[ \t]*=[ \t]*(\d+)")


@dataclass(frozen=True)
class Group:
    """One saved frame in one file: the pages that share its frame header."""

    number: int | None  # frameNumbers (None: the file has no frame headers, 3.x)
    t: float | None  # frameTimestamps_sec (None: not in the header)
    aux: tuple[float, ...]  # auxTrigger0
    acquisition: int | None  # acquisitionNumbers
    page: int  # 0-based page of its first channel in the file
    pages: int  # how many pages share the header


def _float(text: bytes) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _times(path: Path, page: int, text: bytes) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.replace(b";", b" ").replace(b",", b" ").split())
    except ValueError:
        raise ScopeFileError(
            f"{path}: page {page}: auxTrigger0 = [{text[:80].decode(errors='replace')}]: "
            "not a list of times"
        ) from None


def read_groups(path: Path, channels: int) -> tuple[list[Group], list[str]]:
    """The file's saved frames, in page order, and what does not add up: runs of pages
    whose length is not the header's channel count."""
    groups: list[Group] = []
    with mapped(path) as data:
        spans = page_spans(path, data)
        numbered = False
        for page, span in enumerate(spans):
            if span is None:
                number = stamp = acq = None
                aux: tuple[float, ...] = ()
            else:
                lo, hi = span[0], span[0] + span[1]
                m = NUMBER.search(data, lo, hi)
                number = int(m.group(1)) if m else None
                m = STAMP.search(data, lo, hi)
                stamp = _float(m.group(1)) if m else None
                m = AUX.search(data, lo, hi)
                aux = _times(path, page, m.group(1)) if m else ()
                m = ACQUISITION.search(data, lo, hi)
                acq = int(m.group(1)) if m else None
            if number is not None:
                numbered = True
            elif numbered:
                raise ScopeFileError(f"{path}: page {page}: no frame number in its description")
            last = groups[-1] if groups else None
            same = (
                last is not None
                and (last.number == number if number is not None else last.pages < channels)
                and (number is not None or not numbered)
            )
            if last is not None and same:
                groups[-1] = Group(last.number, last.t, last.aux, last.acquisition, last.page,
                                   last.pages + 1)  # fmt: skip
            else:
                groups.append(Group(number, stamp, aux, acq, page, 1))
    return groups, _channel_problems(path, groups, channels)


def _channel_problems(path: Path, groups: list[Group], channels: int) -> list[str]:
    runs = [g.pages for g in groups]
    if not runs or all(r == channels for r in runs):
        return []
    if all(r == channels for r in runs[:-1]):
        return [f"{path.name}: its last frame has {runs[-1]} of {channels} channel pages"]
    common = max(set(runs), key=runs.count)
    first_odd = next(g for g in groups if g.pages != channels)
    return [
        f"{path.name}: the header names {channels} saved channel(s), but its pages come in "
        f"runs of {common} sharing one frame header (first at page {first_odd.page}, "
        f"frame {first_odd.number}): the header and the pages disagree on the channels"
    ]
