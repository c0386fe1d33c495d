"""The fake ScanImage's TIFF page writer and MATLAB value syntax (no reader here: the files
are fixtures for an independent reader, ``rig/scope/``, so nothing is imported from it).

Pages are uncompressed little-endian int16 (SampleFormat 2, as ScanImage writes), one strip
each. Classic TIFF for ScanImage <= 2015 (3.x, 4.x, 5.0, 5.1); BigTIFF with the 2016+
static block (:func:`write_tiff`'s ``static``) for the later releases. Each page is laid
out as its description, its pixels, then its IFD, so pages whose descriptions have one
length are equidistant (tifffile's "virtual frames" for classic ScanImage files rely on
that, as real files allow).

Storage choice: in a BigTIFF every IFD's Software (305) and Artist (315) tags point at the
static block's header text and ROI JSON (the same bytes, NUL included) instead of holding
a copy each. A reader gets exactly the values ScanImage writes (the static header text and
the ROI JSON on every page); the files are ~2 KB a page smaller and quicker to write.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SI_MAGIC = 0x07030301  # bytes 01 03 03 07 at offset 16 of a 2016+ file
IMAGE_DESCRIPTION, SOFTWARE, ARTIST = 270, 305, 315


# -- MATLAB syntax, as ScanImage writes its headers ---------------------------------------
def num(value: float) -> str:
    """A MATLAB number as ScanImage's num2str writes it: 30, 0.0333333, 8.84277e-08."""
    if isinstance(value, bool):
        raise TypeError("a bool is not a number here: use mat()")
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return f"{value:.6g}"


def mat(value: Any) -> str:
    """``value`` in MATLAB syntax: strings in single quotes, ``true``/``false``, a list a
    row vector ``[0 10 20]``, a tuple a column vector ``[1;2]``, ``None`` the empty ``[]``."""
    if value is None:
        return "[]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, tuple):
        return "[" + ";".join(mat(v) for v in value) + "]"
    if isinstance(value, list):
        return "[" + " ".join(mat(v) for v in value) + "]"
    return num(value)


def channel_save(channels: Sequence[int]) -> int | tuple[int, ...]:
    """channelSave as ScanImage holds it: a scalar channel NUMBER for one channel, else a
    column vector of channel numbers in save order."""
    return channels[0] if len(channels) == 1 else tuple(channels)


def assignments(prefix: str, fields: dict[str, Any], *, sort: bool = True) -> str:
    """``<prefix><key> = <value>`` lines, newline-ended; sorted as ScanImage's
    structOrObj2Assignments lists them (ASCII: upper-case names first)."""
    keys = sorted(fields) if sort else list(fields)
    return "".join(f"{prefix}{k} = {mat(fields[k])}\n" for k in keys)


# -- the page writer ------------------------------------------------------------------------
def _ascii_value(data: bytes, at: int, inline: int) -> int:
    """An ASCII tag's value field: the offset of its bytes, or the bytes themselves when
    they fit in the field (TIFF's rule)."""
    if len(data) <= inline:
        return int.from_bytes(data.ljust(inline, b"\0"), "little")
    return at


def write_tiff(
    path: Path,
    descriptions: Sequence[str | None],
    width: int,
    height: int,
    *,
    static: tuple[int, str, str] | None = None,
) -> None:
    """One page per description (``None``: a page without an ImageDescription tag).

    ``static``: (TIFF_FORMAT_VERSION, header text, ROI JSON): a BigTIFF whose 16-byte
    header is followed by ScanImage's static block (magic, format version, the lengths of
    the two texts with their NULs, the texts), every IFD's Software tag being the header
    text and its Artist tag the ROI JSON. Without it: a classic TIFF."""
    pixels = bytes(width * height * 2)
    out = bytearray()
    shared: list[tuple[int, int, int]] = []  # (tag, count, value) ASCII tags on every page
    if static is not None:
        fmt_version, text, roi = static
        text_b, roi_b = text.encode() + b"\0", roi.encode() + b"\0"
        out += b"II" + struct.pack("<HHHQ", 43, 8, 0, 0)
        out += struct.pack("<IIII", SI_MAGIC, fmt_version, len(text_b), len(roi_b))
        text_at = len(out)
        out += text_b
        roi_at = len(out)
        out += roi_b
        shared = [
            (SOFTWARE, len(text_b), _ascii_value(text_b, text_at, 8)),
            (ARTIST, len(roi_b), _ascii_value(roi_b, roi_at, 8)),
        ]
        if len(out) % 2:
            out += b"\0"
        word, entry, count_fmt, link_at, inline, strip_type = "Q", "HHQQ", "Q", 8, 8, 16
    else:
        out += b"II" + struct.pack("<HI", 42, 0)
        word, entry, count_fmt, link_at, inline, strip_type = "I", "HHII", "H", 4, 4, 4
    cache: dict[int, str] = {}
    for description in descriptions:
        values: list[int] = []
        n_entries = 10 + len(shared) + (description is not None)
        if description is not None:
            desc = description.encode() + b"\0"
            desc_value = _ascii_value(desc, len(out), inline)
            if len(desc) > inline:
                out += desc
                if len(out) % 2:
                    out += b"\0"
        data_at = len(out)
        out += pixels
        ifd_at = len(out)
        struct.pack_into("<" + word, out, link_at, ifd_at)
        values += [n_entries, 256, 4, 1, width, 257, 4, 1, height, 258, 3, 1, 16]
        values += [259, 3, 1, 1, 262, 3, 1, 1]
        if description is not None:
            values += [IMAGE_DESCRIPTION, 2, len(desc), desc_value]
        values += [273, strip_type, 1, data_at, 277, 3, 1, 1, 278, 4, 1, height]
        values += [279, 4, 1, len(pixels)]
        for tag, count, value in shared:
            values += [tag, 2, count, value]
        values += [339, 3, 1, 2, 0]  # SampleFormat: signed int16; next IFD: none yet
        fmt = cache.get(n_entries)
        if fmt is None:
            fmt = cache[n_entries] = "<" + count_fmt + entry * n_entries + word
        out += struct.pack(fmt, *values)
        link_at = len(out) - struct.calcsize("<" + word)
    path.write_bytes(bytes(out))
