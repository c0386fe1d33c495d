"""Whole sessions on the simulated rig: files, determinism, and records that agree with events.

The checks of a trial record against its events are written here independently of
``rig.task.outcome``: they re-derive each fact from ``events.jsonl`` alone.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from rig.fsm.executor import to_cycles
from rig.schema import HardwareConfig, Protocol, load_model
from rig.session.session import SessionRequest, run_session
from rig.task.builder import settings_for

EARLY_STATES = {"SamplePeriod", "EarlyLickSample", "DelayPeriod", "EarlyLickDelay"}
LICKS = {"lick_left": "left", "lick_right": "right"}


def _load(root: Path, protocol: str) -> tuple[Protocol, HardwareConfig]:
    return (
        load_model(root / protocol if "/" in protocol else root / "protocols" / protocol, Protocol),
        load_model(root / "hardware_configs/sim.yaml", HardwareConfig),
    )


def _run(
    root: Path, data: Path, protocol: str, trials: int, seed: int, subject: str = "m1"
) -> Path:
    p, h = _load(root, protocol)
    outcome = run_session(SessionRequest(p, h, subject, trials, seed, data))
    assert outcome.status == "completed"
    return outcome.session_dir


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _cycles_s(seconds: float) -> float:
    return to_cycles(seconds) / 10000


def check_trial_against_events(
    record: dict[str, Any], events: list[dict[str, Any]], protocol: Protocol, hw: HardwareConfig
) -> None:
    """Every fact of the record, re-derived from the trial's own events."""
    settings = settings_for(protocol, record["stage"])
    entries: dict[str, list[float]] = defaultdict(list)
    state = ""
    early_licks = []
    licks = []
    valve_on: dict[str, float] = {}
    pulses = []
    for ev in events:
        if ev["kind"] == "state":
            state = ev["name"]
            entries[state].append(ev["t"])
        elif ev["kind"] == "input" and ev["name"] in LICKS:
            licks.append((ev["t"], LICKS[ev["name"]]))
            if state in EARLY_STATES:
                early_licks.append(ev["t"])
        elif ev["kind"] == "output" and ev["name"].startswith("valve_"):
            side = ev["name"].removeprefix("valve_")
            if ev["value"]:
                valve_on[side] = ev["t"]
            else:
                pulses.append((side, valve_on.pop(side), ev["t"]))
    trial_start = [e["t"] for e in events if e["kind"] == "trial_start"]
    assert record["t_start"] == trial_start[0]
    assert record["t_end"] == next(e["t"] for e in events if e["kind"] == "trial_end")
    # epoch onsets: the last (uninterrupted) entry of each epoch's state
    assert record["t_sample"] == entries["SamplePeriod"][-1]
    if record["aborted"]:
        assert "ResponseCue" not in entries
    else:
        assert record["t_delay"] == entries["DelayPeriod"][-1]
        assert record["t_go"] == entries["ResponseCue"][0]
        # the final sample ran to its end; the final delay ran to its end (then the free drop)
        delay_after_sample = min(t for t in entries["DelayPeriod"] if t > record["t_sample"])
        assert round(delay_after_sample - record["t_sample"], 4) == _cycles_s(settings.sample_s)
        drop = [t for side in ("Left", "Right") for t in entries[f"Give{side}Drop"]]
        end_of_delay = drop[0] if drop else record["t_go"]
        assert round(end_of_delay - record["t_delay"], 4) == _cycles_s(record["delay_s"])
    assert record["early_lick"] == bool(early_licks)
    assert record["early_lick_count"] == len(early_licks)
    assert len(record["licks"]) == len(licks)
    volume = protocol.reward.volume_ul
    rewards = [p for p in pulses if p[1] >= (record["t_go"] or 1e18)]
    if record["t_go"] is not None:
        go, window = record["t_go"], settings.response_window_s
        in_window = [(t, side) for t, side in licks if go <= t < go + window]
        first = in_window[0] if in_window else None
        if record["outcome"] == "no_response" and settings.errors_ignored:
            # a wrong lick does nothing in this stage: no lick on the rewarded side
            assert all(side != record["instructed"] for _, side in in_window)
        elif record["outcome"] == "no_response":
            assert first is None
        else:
            assert first is not None
            assert record["first_lick"] == {"side": first[1], "t": first[0]}
    if record["outcome"] == "hit":
        side = record["response_side"]
        if not settings.either_side_rewarded:
            assert side == record["instructed"]
        if not (settings.errors_ignored or settings.either_side_rewarded):
            assert record["first_lick"]["side"] == record["instructed"]
        assert len(rewards) == 1
        valve_side, t_on, t_off = rewards[0]
        assert valve_side == side
        assert t_on == record["first_lick"]["t"] or settings.errors_ignored
        # rounded down to whole cycles: never more water than asked for
        expected = math.floor(hw.valve(side).open_time_s(volume) * 10000 + 1e-6) / 10000
        assert round(t_off - t_on, 4) == expected
        assert record["reward_ul"] == pytest.approx(hw.valve(side).volume_ul(expected), abs=1e-3)
        assert record["reward_ul"] <= volume
    else:
        assert rewards == [] and record["reward_ul"] == 0
    if record["outcome"] == "error":
        assert record["first_lick"]["side"] != record["instructed"]
        assert "TimeOut" in entries
    given = any(p[1] < (record["t_go"] or record["t_end"]) for p in pulses)
    assert record["free_drop_given"] == given
    assert record["free_drop"] or not given  # never a drop that was not planned
    # what the device presented is the stimulus the record names
    outputs = {
        (e["name"], e.get("value"), e.get("freq_hz")) for e in events if e["kind"] == "output"
    }
    if record["modality"] == "tactile":
        position = protocol.stimuli.pole_positions[record["stimulus"]]
        assert ("pole_position", position, None) in outputs
        assert {v for n, v, _ in outputs if n == "pole_position"} == {position, 0}
    else:
        freq = protocol.stimuli.tone_hz[record["stimulus"]]
        assert (f"sample_tone_{record['stimulus']}", 1, freq) in outputs


@pytest.mark.parametrize(
    ("protocol", "trials", "seed"),
    [
        ("tactile_T1.yaml", 400, 1),
        ("auditory_A1.yaml", 200, 2),
        ("continual_learning.yaml", 600, 3),
        ("shaping.yaml", 500, 4),
        ("tests/data/abort_policy.yaml", 300, 5),
    ],
)
def test_every_trial_record_agrees_with_its_events(
    root: Path, tmp_path: Path, protocol: str, trials: int, seed: int
) -> None:
    session = _run(root, tmp_path, protocol, trials, seed)
    p, h = _load(root, protocol)
    records = _read_jsonl(session / "trials.jsonl")
    events = _read_jsonl(session / "events.jsonl")
    assert [r["trial"] for r in records] == list(range(1, trials + 1))
    by_trial: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for ev in events:
        by_trial[ev["trial"]].append(ev)
    for record in records:
        check_trial_against_events(record, by_trial[record["trial"]], p, h)
    # back to back: every trial after the first starts one device cycle after the last ended
    assert {r["dead_time_ms"] for r in records[1:]} == {0.1}
    outcomes = {r["outcome"] for r in records}
    assert {"hit", "error"} <= outcomes


def test_same_seed_gives_byte_identical_files(root: Path, tmp_path: Path) -> None:
    a = _run(root, tmp_path / "a", "continual_learning.yaml", 300, seed=7)
    b = _run(root, tmp_path / "b", "continual_learning.yaml", 300, seed=7)
    c = _run(root, tmp_path / "c", "continual_learning.yaml", 300, seed=8)
    assert (a / "trials.jsonl").read_bytes() == (b / "trials.jsonl").read_bytes()
    assert (a / "events.jsonl").read_bytes() == (b / "events.jsonl").read_bytes()
    assert (a / "trials.jsonl").read_bytes() != (c / "trials.jsonl").read_bytes()


def test_session_files_and_summary(root: Path, tmp_path: Path) -> None:
    session = _run(root, tmp_path, "tactile_T1.yaml", 120, seed=5)
    assert session.parent == tmp_path / "m1"
    meta = json.loads((session / "session.json").read_text())
    assert meta["status"] == "completed"
    assert meta["subject"] == "m1" and meta["rig"] == "sim"
    assert meta["protocol"]["name"] == "tactile_T1"
    assert meta["hardware"]["valves"]["valve_left"]["points"]
    records = _read_jsonl(session / "trials.jsonl")
    summary = meta["summary"]
    assert summary["trials"] == 120
    assert sum(summary["outcomes"].values()) == 120
    assert summary["outcomes"]["hit"] == sum(r["outcome"] == "hit" for r in records)
    water = sum(r["reward_ul"] + r["free_drop_ul"] for r in records)
    assert summary["water_ul"] == pytest.approx(water, abs=1e-2)
    assert len({r["sm_hash"] for r in records}) >= 2  # left and right machines differ


def test_next_session_continues_the_curriculum_and_the_mouse(root: Path, tmp_path: Path) -> None:
    first = _run(root, tmp_path, "continual_learning.yaml", 400, seed=1)
    brain_after_first = (tmp_path / "m1" / "sim_mouse.json").read_text()
    second = _run(root, tmp_path, "continual_learning.yaml", 200, seed=2)
    meta1 = json.loads((first / "session.json").read_text())
    meta2 = json.loads((second / "session.json").read_text())
    assert meta2["start_position"] == meta1["end_position"]
    assert meta1["end_position"]["step"] >= 1  # the first session reached T1's criterion
    assert json.loads(brain_after_first)["trials"] == 1500 + 400
    assert json.loads((tmp_path / "m1" / "sim_mouse.json").read_text())["trials"] == 1900 + 200
    records = _read_jsonl(second / "trials.jsonl")
    assert records[0]["context_label"] == meta1["summary"]["end_label"]
