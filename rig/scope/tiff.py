"""ScanImage TIFFs at the byte level: the 2016+ header block, each page's ImageDescription.

ScanImage writes little-endian classic TIFF (3.x to 5.1, 2015) or BigTIFF (2016 and
later). 2016+ files carry a block right after the 16-byte BigTIFF header: magic
117637889 (bytes ``01 03 03 07``), ``TIFF_FORMAT_VERSION`` (3; 4 from 5.7 and 2020), the
lengths of the header text and of the ROI JSON, then the two. Every page's
ImageDescription holds that frame's header (``key = value`` lines; 3.x: ``state.*=value``
lines on the first page only). The IFDs are walked here directly, over a memory map (a
header read touches only the pages it reads), in classic TIFF and BigTIFF; a file cut
short, looping or not a TIFF raises :class:`ScopeFileError` naming it.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SI_MAGIC = 117637889
Buffer = bytes | mmap.mmap  # a file's bytes, read or mapped
ImageDescription = 270


class ScopeFileError(ValueError):
    """A file that is not (or not yet) a readable ScanImage TIFF; the message names it."""


# -- values in ScanImage's MATLAB-like syntax ---------------------------------------------
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


def parse_raw(text: str) -> dict[str, str]:
    """``key = value`` (or 3.x's ``key=value``) lines, the values as written."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            out[key.strip()] = value.strip()
    return out


@dataclass
class Pages:
    """A ScanImage TIFF's pages: the 2016+ static block, if any, and each page's
    ImageDescription ("" for a page without one), in page order."""

    path: Path
    static_format: int | None  # TIFF_FORMAT_VERSION of the 2016+ block, None without one
    static_text: str | None
    descriptions: list[str]


def _si2016_block(path: Path, data: Buffer) -> tuple[int, str] | None:
    """(TIFF_FORMAT_VERSION, header text) of the 2016+ block, read from the file's map."""
    head = data[:32]
    if len(head) < 32 or head[:2] != b"II" or struct.unpack("<H", head[2:4])[0] != 43:
        return None
    magic, fmt, size0, _ = struct.unpack("<IIII", head[16:32])
    if magic != SI_MAGIC:
        return None
    text = data[32 : 32 + size0]
    if len(text) < size0:
        raise ScopeFileError(f"{path}: the ScanImage header block is cut short")
    return fmt, text.rstrip(b"\0").decode(errors="replace")


def _tag_spans(data: Buffer, wanted: int) -> Iterator[tuple[int, int] | None]:
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
    seen: set[int] = set()
    while ifd:
        if ifd in seen:
            raise struct.error(f"the pages loop back to the one at byte {ifd}")
        seen.add(ifd)
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


def page_spans(path: Path, data: Buffer, limit: int | None = None) -> list[tuple[int, int] | None]:
    """Where each page's ImageDescription is in ``data`` (the file's bytes, or a map of
    them): every page's, or the first ``limit`` pages'."""
    spans: list[tuple[int, int] | None] = []
    try:
        for span in _tag_spans(data, ImageDescription):
            spans.append(span)
            if limit is not None and len(spans) >= limit:
                break
    except struct.error as exc:
        raise ScopeFileError(
            f"{path}: not a complete ScanImage TIFF (still being written, or damaged): "
            f"{exc}; {len(spans)} pages read"
        ) from None
    if not spans:
        raise ScopeFileError(f"{path}: a TIFF with no pages")
    return spans


@contextlib.contextmanager
def mapped(path: Path) -> Iterator[mmap.mmap]:
    """The file's bytes, mapped (read on demand: a header read touches only its pages);
    a file that is missing, empty or not a little-endian TIFF raises ScopeFileError."""
    try:
        with path.open("rb") as f:
            if os.fstat(f.fileno()).st_size < 8:
                raise ScopeFileError(f"{path}: {os.fstat(f.fileno()).st_size} bytes: not a TIFF")
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except FileNotFoundError:
        raise ScopeFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise ScopeFileError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    try:
        if data[:4] not in (b"II*\0", b"II+\0"):
            raise ScopeFileError(
                f"{path}: not a little-endian TIFF (starts {data[:4]!r}): ScanImage writes "
                "little-endian TIFF or BigTIFF"
            )
        yield data
    finally:
        data.close()


def read_pages(path: Path, *, limit: int | None = None) -> Pages:
    """The static block and the pages' descriptions of one ScanImage TIFF (the first
    ``limit`` pages' only, when given). A file that is not a TIFF, or is cut short, raises
    :class:`ScopeFileError` naming it."""
    with mapped(path) as data:
        block = _si2016_block(path, data)
        spans = page_spans(path, data, limit)
        descriptions = [
            "" if s is None else data[s[0] : s[0] + s[1]].rstrip(b"\0").decode(errors="replace")
            for s in spans
        ]
    fmt, text = block if block is not None else (None, None)
    return Pages(path, fmt, text, descriptions)
