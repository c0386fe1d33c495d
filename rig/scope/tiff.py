"""ScanImage-format TIFF files: written (for the fake ScanImage and tests), and read.

What ScanImage writes, and so what this writes:

- every page (one frame of one channel) has an ImageDescription holding that frame's
  header, ``key = value`` lines (``frameNumbers``, ``frameTimestamps_sec``,
  ``acqTriggerTimestamps_sec``, ``auxTrigger0 = [t1 t2]`` ...);
- the file-level metadata (``SI.VERSION_MAJOR``, ``SI.hRoiManager.scanFrameRate``, ...):
  ScanImage 2016 and later in a block right after the BigTIFF header (magic 117637889,
  version 3, then the lengths of the metadata text and the ROI JSON); ScanImage 5.x in each
  page's Software tag; ScanImage 3.x as ``state.*`` lines at the top of each page's
  description.

The writer writes uncompressed 16-bit pages, BigTIFF for 2016+ (as ScanImage does) and
classic TIFF for 5.x and 3.x. The reader takes the per-frame headers through
ScanImageTiffReader (the fastest) and the file metadata from the 2016+ block, else the
first page's Software tag, else the 3.x ``state.*`` lines.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SI_MAGIC = 117637889
SI_VERSION = 3
ImageDescription, Software = 270, 305


class ScopeFileError(ValueError):
    """A file that is not (or not yet) a readable ScanImage TIFF; the message names it."""


# -- values in ScanImage's MATLAB-like syntax ---------------------------------------------
def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, list | tuple):
        return "[" + " ".join(format_value(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.9f}"
    return str(value)


def parse_value(text: str) -> Any:
    text = text.strip()
    if text.startswith("'") and text.endswith("'"):
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].replace(";", " ").replace(",", " ").split()
        return [parse_value(v) for v in inner]
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def parse_header(text: str) -> dict[str, Any]:
    """``key = value`` lines (a frame header, or file metadata) as a dict."""
    out: dict[str, Any] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            out[key.strip()] = parse_value(value)
    return out


def format_header(fields: dict[str, Any]) -> str:
    return "".join(f"{k} = {format_value(v)}\n" for k, v in fields.items())


# -- writing ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Page:
    description: str
    pixels: bytes  # width * height int16, little-endian


def _entry(big: bool, tag: int, typ: int, count: int, value: int) -> bytes:
    if big:
        return struct.pack("<HHQQ", tag, typ, count, value)
    return struct.pack("<HHII", tag, typ, count, value)


def write_tiff(
    path: Path,
    pages: Sequence[Page],
    width: int,
    height: int,
    *,
    si_metadata: str | None = None,
    software: str | None = None,
) -> None:
    """Write ``pages``; with ``si_metadata``, a BigTIFF with the ScanImage 2016+ block."""
    big = si_metadata is not None
    if big and software is None:
        software = "SI.TIFF_FORMAT_VERSION = 3"  # what tools look for to call it ScanImage
    out = bytearray()
    if big:
        out += b"II" + struct.pack("<HHHQ", 43, 8, 0, 0)
        meta = si_metadata.encode() + b"\0"  # type: ignore[union-attr]
        roi = b"{}\0"
        out += struct.pack("<IIII", SI_MAGIC, SI_VERSION, len(meta), len(roi)) + meta + roi
    else:
        out += b"II" + struct.pack("<HI", 42, 0)
    link_at = 8 if big else 4  # where the offset of the next IFD goes
    soft = None if software is None else software.encode() + b"\0"
    for page in pages:
        desc = page.description.encode() + b"\0"
        desc_at = len(out)
        out += desc
        soft_at = len(out)
        if soft is not None:
            out += soft
        if len(out) % 2:
            out += b"\0"
        data_at = len(out)
        out += page.pixels
        if len(out) % 2:
            out += b"\0"
        entries = [
            (256, 4, 1, width),
            (257, 4, 1, height),
            (258, 3, 1, 16),
            (259, 3, 1, 1),
            (262, 3, 1, 1),
            (ImageDescription, 2, len(desc), desc_at),
            (273, 4 if not big else 16, 1, data_at),
            (277, 3, 1, 1),
            (278, 4, 1, height),
            (279, 4, 1, len(page.pixels)),
        ]
        if soft is not None:
            entries.append((Software, 2, len(soft), soft_at))
        entries.append((339, 3, 1, 2))  # signed integers, as ScanImage's int16
        ifd_at = len(out)
        struct.pack_into("<Q" if big else "<I", out, link_at, ifd_at)
        out += struct.pack("<Q" if big else "<H", len(entries))
        for tag, typ, count, value in entries:
            out += _entry(big, tag, typ, count, value)
        link_at = len(out)
        out += struct.pack("<Q" if big else "<I", 0)
    path.write_bytes(bytes(out))


# -- reading ------------------------------------------------------------------------------
@dataclass
class ScopeFile:
    path: Path
    version: str  # "2016+", "5", "3"
    metadata: dict[str, Any]
    frames: list[dict[str, Any]]  # per page, the parsed frame header

    @property
    def frame_rate_hz(self) -> float | None:
        for key in ("SI.hRoiManager.scanFrameRate", "state.acq.frameRate"):
            if key in self.metadata:
                return float(self.metadata[key])
        return None

    @property
    def planes(self) -> int:
        for key in ("SI.hStackManager.numSlices", "state.acq.numberOfZSlices"):
            if key in self.metadata:
                return int(self.metadata[key])
        return 1

    @property
    def channels(self) -> list[int]:
        saved = self.metadata.get("SI.hChannels.channelSave")
        if saved is None:  # ScanImage 3.x: a count of saved channels
            return list(range(1, int(self.metadata.get("state.acq.numberOfChannelsSave", 1)) + 1))
        return [saved] if isinstance(saved, int) else list(saved)


def _si2016_block(path: Path) -> str | None:
    with path.open("rb") as f:
        head = f.read(32)
    if len(head) < 32 or head[:2] != b"II" or struct.unpack("<H", head[2:4])[0] != 43:
        return None
    magic, _, size0, _ = struct.unpack("<IIII", head[16:32])
    if magic != SI_MAGIC:
        return None
    with path.open("rb") as f:
        f.seek(32)
        text = f.read(size0)
    if len(text) < size0:
        raise ScopeFileError(f"{path}: the ScanImage header block is cut short")
    return text.rstrip(b"\0").decode(errors="replace")


def _tag_spans(data: bytes, wanted: int) -> Iterator[tuple[int, int] | None]:
    """Per page (IFD), in order, where the ASCII tag ``wanted`` is: (offset, length), or
    None when the page has none. Classic TIFF and BigTIFF, little-endian; a file cut short
    raises ``struct.error``."""
    if data[:2] != b"II":
        raise struct.error("not a little-endian TIFF")
    big = struct.unpack_from("<H", data, 2)[0] == 43
    word, count_fmt, entry_size, first = ("<Q", "<Q", 20, 8) if big else ("<I", "<H", 12, 4)
    value_at, inline = (12, 8) if big else (8, 4)
    entry_fmt = "<HHQ" if big else "<HHI"
    ifd = struct.unpack_from(word, data, first)[0]
    while ifd:
        count = struct.unpack_from(count_fmt, data, ifd)[0]
        at = ifd + (8 if big else 2)
        span = None
        for i in range(count):
            e = at + i * entry_size
            tag, _, n = struct.unpack_from(entry_fmt, data, e)
            if tag == wanted:
                off = (
                    e + value_at if n <= inline else struct.unpack_from(word, data, e + value_at)[0]
                )
                if off + n > len(data):
                    raise struct.error("a tag's value past the end")
                span = (off, n)
                break
        yield span
        ifd = struct.unpack_from(word, data, at + count * entry_size)[0]


def _first_page_tag(path: Path, wanted: int) -> str | None:
    """The first page's ASCII tag ``wanted`` (classic TIFF or BigTIFF), or None."""
    data = path.read_bytes()[: 1 << 20]
    try:
        span = next(_tag_spans(data, wanted), None)
    except struct.error:
        return None
    if span is None:
        return None
    off, n = span
    return data[off : off + n].rstrip(b"\0").decode(errors="replace")


STATE_LINE = re.compile(r"^state\.", re.MULTILINE)


def read_scope_file(path: Path, *, headers: bool = True) -> ScopeFile:
    """Frame headers and file metadata of one ScanImage TIFF (2016+, 5.x or 3.x); with
    ``headers=False``, the metadata and the first frame's header only."""
    from ScanImageTiffReader import ScanImageTiffReader  # type: ignore[import-untyped]

    if not path.exists():
        raise ScopeFileError(f"{path}: no such file")
    try:
        block = _si2016_block(path)
        with ScanImageTiffReader(str(path)) as reader:
            n = reader.shape()[0] if len(reader.shape()) == 3 else 1
            n = n if headers else min(n, 1)
            descriptions = [reader.description(i) for i in range(n)]
    except ScopeFileError:
        raise
    except Exception as exc:  # the reader's own errors: truncated, not a TIFF
        raise ScopeFileError(
            f"{path}: not a complete ScanImage TIFF (still being written, or damaged): {exc}"
        ) from None
    if block is not None:
        version, metadata = "2016+", parse_header(block)
    else:
        software = _first_page_tag(path, Software)
        if software and "SI.VERSION_MAJOR" in software:
            version, metadata = "5", parse_header(software)
        elif descriptions and STATE_LINE.search(descriptions[0]):
            version, metadata = (
                "3",
                parse_header(
                    "\n".join(
                        line for line in descriptions[0].splitlines() if line.startswith("state.")
                    )
                ),
            )
        else:
            raise ScopeFileError(
                f"{path}: no ScanImage file metadata (no 2016+ header block, no SI. Software "
                "tag, no state.* lines): not a ScanImage file, or its metadata was stripped"
            )
    return ScopeFile(path, version, metadata, [parse_header(d) for d in descriptions])


# -- the fast path for alignment: descriptions straight from the file's IFDs ---------------
FRAME_KEYS = re.compile(
    rb"frameNumbers = (\d+).*?frameTimestamps_sec = ([-+\d.eE]+).*?auxTrigger0 = \[([^\]]*)\]",
    re.S,
)


def frame_headers(path: Path) -> list[tuple[int, float, list[float]]]:
    """(frame number, timestamp, auxTrigger0 times) of every page, in page order.

    Walks the TIFF's (or BigTIFF's) IFDs itself and reads only those three keys: about 3x
    faster than ScanImageTiffReader's ``description(i)`` over a long acquisition (which it
    otherwise matches; ``tests/scope``). A file cut short raises :class:`ScopeFileError`."""
    data = path.read_bytes()
    if data[:2] != b"II":
        raise ScopeFileError(f"{path}: not a little-endian TIFF")
    out: list[tuple[int, float, list[float]]] = []
    try:
        for span in _tag_spans(data, ImageDescription):
            if span is None:
                continue  # a page with no description holds no frame header
            m = FRAME_KEYS.search(data, span[0], span[0] + span[1])
            if m is None:
                raise ScopeFileError(
                    f"{path}: page {len(out)}: no frameNumbers/frameTimestamps_sec/"
                    "auxTrigger0 in its description: not a ScanImage frame header"
                )
            aux = [float(x) for x in m.group(3).replace(b";", b" ").split()]
            out.append((int(m.group(1)), float(m.group(2)), aux))
    except struct.error:
        raise ScopeFileError(
            f"{path}: cut short after {len(out)} pages (still being written, or damaged)"
        ) from None
    return out
