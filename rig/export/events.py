"""The events tables of the NWB file, and the typed, compressed columns every table uses.

``licks``: each lick onset with its duration to the release (NaN when the release came
after the trial's end), side and trial. ``device_events``: every line of ``events.jsonl``,
its kinds and names stored as small codes with a meanings table each (the text of
277,000 events would otherwise fill most of the file).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

NAN = math.nan


def num(value: Any) -> float:
    """``None`` -> NaN."""
    return NAN if value is None else float(value)


def events_table(
    name: str, description: str, times: list[float], columns: list[Any], meanings: Any = ()
) -> Any:
    import numpy as np
    from hdmf.backends.hdf5 import H5DataIO
    from hdmf.common import ElementIdentifiers
    from pynwb.event import EventsTable, TimestampVectorData

    stamp = TimestampVectorData(
        name="timestamp",
        description="device seconds from the session's start",
        data=H5DataIO(np.asarray(times, dtype=float), compression="gzip"),
        resolution=1e-4,
    )
    ids = ElementIdentifiers(name="id", data=H5DataIO(np.arange(len(times)), compression="gzip"))
    return EventsTable(
        name=name,
        description=description,
        columns=[stamp, *columns],
        id=ids,
        meanings_tables=list(meanings),
    )


def coded(name: str, description: str, values: list[str]) -> tuple[Any, Any]:
    """A column of small integer codes and its meanings table (code -> the text)."""
    from hdmf.common import MeaningsTable

    words = sorted(set(values))
    code = {w: i for i, w in enumerate(words)}
    codes = column(name, f"{description} (codes; see {name}_meanings)",
                   [code[v] for v in values], np.uint16)  # fmt: skip
    meanings = MeaningsTable(
        target=codes,
        columns=[column("value", "the code", list(range(len(words))), np.uint16),
                 column("meaning", "what it stands for", words, str)],
    )  # fmt: skip
    return codes, meanings


def column(name: str, description: str, data: list[Any], dtype: Any = None) -> Any:
    """A column, gzip-compressed; ``dtype`` (a numpy type) keeps an empty column typed."""
    from hdmf.backends.hdf5 import H5DataIO
    from hdmf.common import VectorData

    array = np.asarray(data, dtype=dtype)
    stored = H5DataIO(array, compression="gzip") if len(array) else array
    return VectorData(name=name, description=description, data=stored)


def table(name: str, description: str, columns: list[Any]) -> Any:
    from hdmf.common import DynamicTable

    return DynamicTable(name=name, description=description, columns=columns)


def licks_table(events: list[dict[str, Any]]) -> Any:
    from pynwb.event import DurationVectorData

    onsets: list[dict[str, Any]] = []
    open_lick: dict[tuple[int, str], dict[str, Any]] = {}
    for e in events:
        if e["kind"] != "input" or not e["name"].startswith("lick_"):
            continue
        side = e["name"].split("_")[1]
        if e["name"].endswith("_off"):
            lick = open_lick.pop((e["trial"], side), None)
            if lick is not None:
                lick["duration"] = round(e["t"] - lick["t"], 4)
        else:
            lick = {"t": e["t"], "side": side, "trial": e["trial"], "duration": NAN}
            open_lick[(e["trial"], side)] = lick
            onsets.append(lick)
    return events_table(
        "licks",
        "lick onsets on the lick ports (device-stamped); duration to the release, NaN when "
        "the release came after the trial's end",
        [x["t"] for x in onsets],
        [
            DurationVectorData(name="duration", description="onset to release (s)",
                               data=[x["duration"] for x in onsets]),
            column("side", "left or right", [x["side"] for x in onsets]),
            column("trial", "trial number (0: between trials)", [x["trial"] for x in onsets]),
        ],
    )  # fmt: skip


def device_events_table(events: list[dict[str, Any]]) -> Any:
    kind, kinds = coded(
        "kind", "trial_start, state, input, output or trial_end", [e["kind"] for e in events]
    )
    name, names = coded(
        "event_name",
        "state, input event or output channel ('' at trial start/end)",
        [e["name"] for e in events],
    )
    columns = [
        column("trial", "trial number; 0 for the operator's drops and flushes",
                [e["trial"] for e in events], np.int32),
        kind,
        name,
        column("value", "output value (0 off); -1 for other kinds",
                [int(e.get("value", -1)) for e in events], np.int32),
        column("frequency", "tone frequency (Hz); NaN when not a tone",
                [num(e.get("freq_hz")) for e in events], float),
    ]  # fmt: skip
    if any("host_t" in e for e in events):
        columns.append(
            column("host_time", "host receive time (s); NaN when not recorded",
                    [num(e.get("host_t")) for e in events], float)
        )  # fmt: skip
    return events_table(
        "device_events",
        "every line of events.jsonl in the device's order: states entered, inputs, outputs",
        [e["t"] for e in events],
        columns,
        (kinds, names),
    )
