"""The live view's data: what it shows is what the session's records say."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gui.livedata import LiveSession, rolling_percent
from gui.replay import simulated_messages
from rig.bus import OperatorActed
from rig.control.wire import Message


@given(st.lists(st.tuples(st.booleans(), st.booleans()), max_size=80), st.integers(1, 12))
def test_rolling_percent_is_the_percent_of_the_last_valid(
    entries: list[tuple[bool, bool]], window: int
) -> None:
    flags = np.array([f for f, _ in entries], dtype=bool)
    valid = np.array([v for _, v in entries], dtype=bool)
    out = rolling_percent(flags, valid, window)
    for i in range(len(entries)):
        last = [f for f, v in entries[: i + 1] if v][-window:]
        if last:
            assert out[i] == 100 * sum(last) / len(last)
        else:
            assert np.isnan(out[i])


def test_the_view_holds_what_the_files_hold(root: Path, tmp_path: Path) -> None:
    messages = simulated_messages(
        tmp_path, trials=120, seed=2,
        protocol=root / "protocols/tactile_T1.yaml", rig=root / "hardware_configs/sim.yaml",
    )  # fmt: skip
    live = LiveSession()
    plot_versions = []
    for m in messages:
        live.apply(m)
        plot_versions.append((m.type, live.plot_version))
    (session,) = (p for p in (tmp_path / "demo-mouse").iterdir() if p.is_dir())
    records = [json.loads(x) for x in (session / "trials.jsonl").read_text().splitlines()]
    assert live.trials == len(records) == 120
    a = live.arrays()
    assert a["trial"].tolist() == [r["trial"] for r in records]
    assert a["right"].tolist() == [r["instructed"] == "right" for r in records]
    assert np.isclose(live.water_ul(), sum(r["reward_ul"] + r["free_drop_ul"] for r in records))
    for side in ("left", "right"):
        mine = [r for r in records if r["instructed"] == side]
        raster = live.raster[side]
        assert raster.rows == len(mine)
        assert raster.x.n == sum(len(r["licks"]) for r in mine)
    summary = json.loads((session / "session.json").read_text())["summary"]
    assert a["pc"][-1] == summary["percent_correct"]
    assert live.ended is not None and live.status == "ended (completed)"
    # a device event changes the status only; a completed trial changes the plots
    for (kind, version), (_, before) in zip(plot_versions[1:], plot_versions, strict=False):
        assert (version != before) == (kind not in ("DeviceEvents", "TrialQueued", "RunnerStatus"))


def test_the_days_water_counts_earlier_sessions_and_each_drop_when_given(
    root: Path, tmp_path: Path
) -> None:
    """Before, the water curve added the hand water to every trial (a drop after trial 10
    showed from trial 1) and left out the day's earlier sessions."""
    messages = simulated_messages(
        tmp_path, trials=30, seed=2,
        protocol=root / "protocols/tactile_T1.yaml", rig=root / "hardware_configs/sim.yaml",
    )  # fmt: skip
    first = messages[0]
    info = {**first.event.info, "earlier_water_today_ul": 120.0}
    live = LiveSession()
    live.apply(dataclasses.replace(first, event=dataclasses.replace(first.event, info=info)))
    drop = OperatorActed("drop", {"side": "left"}, 1.0, 10, None, {"volume_ul": 2.5})
    for m in messages[1:]:
        live.apply(m)
        if m.type == "TrialCompleted" and m.event.record["trial"] == 10:
            live.apply(Message(m.seq, "OperatorActed", m.mono, drop))
    x, y = live.day_water_curve()
    trial_water = np.cumsum(live.cols.water.view)
    assert x[0] == 0 and y[0] == 120.0
    i10, i11 = 10, 11  # x[i] is trial i (x[0]: before the first trial)
    assert y[i10] == pytest.approx(120.0 + trial_water[9])  # the drop came after trial 10
    assert y[i11] == pytest.approx(120.0 + trial_water[10] + 2.5)
    assert y[-1] == pytest.approx(live.day_water_ul())
    assert live.day_water_ul() == pytest.approx(120.0 + trial_water[-1] + 2.5)


def test_the_trials_on_the_device_are_known_until_they_complete(root: Path, tmp_path: Path) -> None:
    messages = simulated_messages(
        tmp_path, trials=8, seed=2,
        protocol=root / "protocols/tactile_T1.yaml", rig=root / "hardware_configs/sim.yaml",
    )  # fmt: skip
    live = LiveSession()
    seen = []
    for m in messages:
        live.apply(m)
        if m.type == "TrialQueued":
            assert m.event.trial in live.upcoming
        if m.type == "TrialCompleted":
            assert m.event.record["trial"] not in live.upcoming
            seen.append(set(live.upcoming))
    assert {5} in seen  # trial 4 completed: trial 5, queued at its outcome, on the device
    assert live.upcoming == {}
