"""Tests for rig.task.outcome.summarize_trial on real trials run by the reference executor.

Each trial is built with ``build_trial`` and run by ``rig.fsm.ReferenceExecutor`` with a
hand-made lick timeline: a lick is placed a number of cycles after the n-th entry of a
state, so restarts shift later licks the way they would shift a mouse's. The executor's
records become ``DeviceEvent``s on the device clock (t = cycle x 100 us).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rig.bus import DeviceEvent
from rig.fsm import CYCLE_S, Record, ReferenceExecutor, StateMachine, to_cycles
from rig.schema import HardwareConfig, Protocol, load_model
from rig.task.builder import build_trial, settings_for, stimulus_for
from rig.task.outcome import TrialRecordError, early_lick_count, summarize_trial
from rig.task.spec import SIDES, Side, TrialSpec, other_side
from tests.helpers import make_spec

ROOT = Path(__file__).resolve().parents[2]
LICK = {"left": "lick_left", "right": "lick_right"}
START = 5  # the device cycle the trial starts at


@dataclass(frozen=True)
class Lick:
    """A lick onset ``after`` cycles after the ``entry``-th entry of ``state``."""

    side: Side
    state: str
    after: int
    entry: int = 1
    hold: int = 30  # cycles on the port

    def __post_init__(self) -> None:
        assert self.after >= 1 and self.hold >= 1


def run(machine: StateMachine, licks: list[Lick], trial: int = 1) -> list[Record]:
    """Run one trial to its end, ticking at each deadline or scheduled lick edge."""
    executor = ReferenceExecutor()
    executor.load(machine, trial)
    executor.start(START)
    edges: dict[int, list[tuple[str, int]]] = {}
    entries: Counter[str] = Counter()
    records: list[Record] = []
    for _ in range(10_000):
        deadline = executor.next_deadline()
        candidates = [c for c in (deadline, min(edges, default=None)) if c is not None]
        assert candidates, "the executor stalled"
        cycle = min(candidates)
        out = executor.tick(cycle, edges.pop(cycle, []))
        records += out
        for rec in out:
            if rec.kind == "trial_end":
                return records
            if rec.kind != "state":
                continue
            entries[rec.name] += 1
            for lick in licks:
                if lick.state == rec.name and lick.entry == entries[rec.name]:
                    on = rec.cycle + lick.after
                    edges.setdefault(on, []).append((LICK[lick.side], 1))
                    edges.setdefault(on + lick.hold, []).append((LICK[lick.side], 0))
    raise AssertionError("the trial did not end")


def to_events(records: list[Record]) -> list[DeviceEvent]:
    return [
        DeviceEvent(r.trial, r.kind, r.name, r.cycle / 10000, r.value, r.freq_hz) for r in records
    ]


def entry_times(events: list[DeviceEvent], state: str) -> list[float]:
    return [e.t for e in events if e.kind == "state" and e.name == state]


@pytest.fixture(scope="module")
def hardware() -> HardwareConfig:
    return load_model(ROOT / "hardware_configs" / "sim.yaml", HardwareConfig)


def load_protocol(name: str, **changes: Any) -> Protocol:
    protocol = load_model(ROOT / "protocols" / name, Protocol)
    if not changes:
        return protocol
    data = protocol.model_dump()
    data.update(changes)
    return Protocol.model_validate(data)


@dataclass
class Trial:
    spec: TrialSpec
    protocol: Protocol
    machine: StateMachine
    events: list[DeviceEvent]
    record: dict[str, Any]


def trial(
    hardware: HardwareConfig,
    protocol: Protocol,
    side: Side,
    licks: list[Lick],
    *,
    context: str | None = None,
    stage: str | None = None,
    free_drop: bool = False,
) -> Trial:
    context = context or next(iter(protocol.contexts))
    spec = make_spec(protocol, context, stage, side, free_drop, trial=1)
    machine = build_trial(protocol, hardware, spec)
    events = to_events(run(machine, licks))
    record = summarize_trial(
        spec,
        protocol.contexts[context].modality,
        stimulus_for(protocol, context, side),
        events,
        sm_hash=machine.content_hash,
        dead_time_ms=None,
        volume_ul=lambda s, open_s: hardware.valve(s).volume_ul(open_s),
    )
    return Trial(spec, protocol, machine, events, record)


def expected_onsets(protocol: Protocol, delay_s: float) -> dict[str, float]:
    """Device times of the epoch onsets for a trial with no early lick."""
    ep = protocol.epochs
    c = START
    onsets = {"t_start": c}
    c += to_cycles(ep.trial_start_ttl_s)
    c += to_cycles(ep.pre_sample_s)
    onsets["t_sample"] = c
    c += to_cycles(ep.sample_s)
    onsets["t_delay"] = c
    c += to_cycles(delay_s)
    onsets["t_go"] = c
    return {k: v * CYCLE_S for k, v in onsets.items()}


def delivered(hardware: HardwareConfig, side: Side, volume: float) -> float:
    """The calibrated volume of the open time the device can time (whole cycles, rounded
    down: never more than asked for)."""
    return hardware.valve(side).volume_ul(floored_open_s(hardware, side, volume))


def floored_open_s(hardware: HardwareConfig, side: Side, volume: float) -> float:
    return math.floor(hardware.valve(side).open_time_s(volume) / CYCLE_S + 1e-6) * CYCLE_S


# -- hit / error / no response -------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "context"),
    [
        ("tactile_T1.yaml", "T1"),
        ("tactile_T2.yaml", "T2"),
        ("auditory_A1.yaml", "A1"),
        ("continual_learning.yaml", "T2"),
    ],
)
@pytest.mark.parametrize("side", SIDES)
def test_correct_first_lick_is_a_hit_with_the_calibrated_volume(
    hardware: HardwareConfig, filename: str, context: str, side: Side
) -> None:
    protocol = load_protocol(filename)
    t = trial(hardware, protocol, side, [Lick(side, "AnswerPeriod", 2000)], context=context)
    r = t.record
    assert r["outcome"] == "hit"
    assert r["instructed"] == side and r["response_side"] == side
    assert r["context"] == context and r["context_label"] == context
    assert r["modality"] == protocol.contexts[context].modality
    assert protocol.contexts[context].mapping[r["stimulus"]] == side
    assert r["early_lick"] is False and r["early_lick_count"] == 0
    assert r["aborted"] is False
    assert r["sm_hash"] == t.machine.content_hash

    volume = protocol.reward.volume_ul
    open_s = floored_open_s(hardware, side, volume)
    (valve,) = r["valves"]
    assert valve["side"] == side and valve["reason"] == "reward"
    assert valve["open_s"] == pytest.approx(open_s, abs=1e-9)
    assert valve["volume_ul"] == pytest.approx(delivered(hardware, side, volume), abs=1e-4)
    assert r["reward_ul"] == pytest.approx(volume, abs=0.01)
    assert r["free_drop_ul"] == 0.0

    onsets = expected_onsets(protocol, t.spec.delay_s)
    for key, value in onsets.items():
        assert r[key] == pytest.approx(value, abs=1e-9), key
    # The lick 2000 cycles into AnswerPeriod, which starts after the 0.1 s go cue.
    assert r["first_lick"] == {"side": side, "t": pytest.approx(onsets["t_go"] + 0.3)}
    assert r["first_lick_latency_s"] == pytest.approx(0.3)
    assert valve["t"] == pytest.approx(onsets["t_go"] + 0.3)
    assert r["licks"] == [
        [side, pytest.approx(onsets["t_go"] + 0.3), pytest.approx(onsets["t_go"] + 0.303)]
    ]
    # Reward, then 0.75 s consumption, then 1 s without licks.
    (stop,) = entry_times(t.events, "StopLicking")
    assert stop == pytest.approx(valve["t"] + open_s + 0.75)
    assert r["t_end"] == pytest.approx(stop + protocol.epochs.stop_licking_s)


@pytest.mark.parametrize("side", SIDES)
def test_wrong_first_lick_is_an_error_without_water(hardware: HardwareConfig, side: Side) -> None:
    protocol = load_protocol("tactile_T1.yaml")
    wrong = other_side(side)
    t = trial(
        hardware,
        protocol,
        side,
        [Lick(wrong, "ResponseCue", 200), Lick(side, "TimeOut", 100)],
    )
    r = t.record
    assert r["outcome"] == "error"
    assert r["response_side"] == wrong
    assert r["first_lick"]["side"] == wrong
    assert r["first_lick_latency_s"] == pytest.approx(0.02)
    assert r["valves"] == [] and r["reward_ul"] == 0.0
    (timeout,) = entry_times(t.events, "TimeOut")
    assert timeout == pytest.approx(r["t_go"] + 0.02)
    assert entry_times(t.events, "StopLicking")[0] == pytest.approx(timeout + 4.0)
    assert len(r["licks"]) == 2


def test_no_lick_is_no_response_with_no_timeout(hardware: HardwareConfig) -> None:
    protocol = load_protocol("tactile_T1.yaml")
    t = trial(hardware, protocol, "left", [])
    r = t.record
    assert r["outcome"] == "no_response"
    assert r["first_lick"] is None and r["first_lick_latency_s"] is None
    assert r["response_side"] is None
    assert r["early_lick"] is False and r["licks"] == [] and r["valves"] == []
    (no_response,) = entry_times(t.events, "NoResponse")
    assert no_response == pytest.approx(r["t_go"] + protocol.epochs.response_window_s)
    assert "TimeOut" not in {e.name for e in t.events if e.kind == "state"}
    assert r["t_end"] == pytest.approx(
        no_response + protocol.epochs.no_response_s + protocol.epochs.stop_licking_s
    )


# -- early licks --------------------------------------------------------------------------


def test_lick_in_delay_with_restart_flags_counts_and_restarts(hardware: HardwareConfig) -> None:
    protocol = load_protocol("tactile_T1.yaml")
    licks = [
        Lick("left", "DelayPeriod", 500, entry=1),
        Lick("right", "EarlyLickDelay", 100, entry=1),  # within the 50 ms early-lick state
        Lick("right", "DelayPeriod", 3000, entry=2),
        Lick("right", "AnswerPeriod", 100),
    ]
    t = trial(hardware, protocol, "right", licks)
    r = t.record
    delays = entry_times(t.events, "DelayPeriod")
    assert len(delays) == 3
    assert r["early_lick"] is True
    assert r["early_lick_count"] == 3
    assert early_lick_count(t.events) == 3
    assert r["t_delay"] == delays[-1]
    assert r["t_delay"] != delays[0]
    # The delay that ran to its end lasted the full delay, then the go cue.
    assert r["t_go"] - r["t_delay"] == pytest.approx(protocol.epochs.delay_s)
    # Each restart: the 50 ms early-lick state, then the delay again.
    early = entry_times(t.events, "EarlyLickDelay")
    assert early == [pytest.approx(delays[0] + 0.05), pytest.approx(delays[1] + 0.3)]
    assert delays[1] == pytest.approx(early[0] + 0.05)
    assert r["outcome"] == "hit"
    assert r["first_lick"]["side"] == "right"
    assert r["t_sample"] == entry_times(t.events, "SamplePeriod")[-1]


def test_lick_in_sample_with_restart_keeps_the_stimulus_and_uses_the_last_entry(
    hardware: HardwareConfig,
) -> None:
    protocol = load_protocol("tactile_T1.yaml")
    t = trial(hardware, protocol, "left", [Lick("left", "SamplePeriod", 1000)])
    r = t.record
    samples = entry_times(t.events, "SamplePeriod")
    assert len(samples) == 2
    assert r["t_sample"] == samples[-1]
    assert r["t_delay"] - r["t_sample"] == pytest.approx(protocol.epochs.sample_s)
    assert r["early_lick"] is True and r["early_lick_count"] == 1
    assert r["outcome"] == "no_response"
    # The pole stays down through the restart: dropped once, lifted once (at the delay).
    pole = [(e.t, e.value) for e in t.events if e.kind == "output" and e.name == "pole_drop"]
    assert pole == [(samples[0], 1), (r["t_delay"], 0)]


def test_lick_in_sample_with_abort_ends_the_trial_without_response(
    hardware: HardwareConfig,
) -> None:
    protocol = load_protocol("tactile_T1.yaml", early_lick={"policy": "abort"})
    t = trial(hardware, protocol, "right", [Lick("right", "SamplePeriod", 400)])
    r = t.record
    assert r["outcome"] == "no_response"
    assert r["aborted"] is True
    assert r["early_lick"] is True and r["early_lick_count"] == 1
    assert r["t_delay"] is None and r["t_go"] is None
    assert r["first_lick"] is None and r["valves"] == []


def test_lick_in_delay_with_ignore_is_flagged_but_changes_nothing(
    hardware: HardwareConfig,
) -> None:
    protocol = load_protocol("tactile_T1.yaml", early_lick={"policy": "ignore"})
    licks = [
        Lick("left", "SamplePeriod", 100),
        Lick("left", "DelayPeriod", 12_990),  # 1 ms before the go cue
        Lick("right", "ResponseCue", 50),
        Lick("left", "AnswerPeriod", 50),
    ]
    t = trial(hardware, protocol, "right", licks)
    r = t.record
    assert r["early_lick"] is True and r["early_lick_count"] == 2
    assert len(entry_times(t.events, "DelayPeriod")) == 1
    assert r["t_go"] - r["t_delay"] == pytest.approx(protocol.epochs.delay_s)
    # The first lick at or after the go cue decides, and is the record's first lick.
    assert r["first_lick"] == {"side": "right", "t": pytest.approx(r["t_go"] + 0.005)}
    assert r["first_lick_latency_s"] == pytest.approx(0.005)
    assert r["outcome"] == "hit" and r["response_side"] == "right"
    assert [lick[0] for lick in r["licks"]] == ["left", "left", "right"]


def test_first_lick_is_the_first_after_the_go_cue_even_when_ignored(
    hardware: HardwareConfig,
) -> None:
    """sample_autolearn: a wrong lick does nothing; the later correct lick is rewarded."""
    protocol = load_protocol("shaping.yaml")
    licks = [
        Lick("left", "DelayPeriod", 100),
        Lick("left", "AnswerPeriod", 300),
        Lick("right", "AnswerPeriod", 900),
    ]
    t = trial(hardware, protocol, "right", licks, stage="sample_autolearn")
    r = t.record
    assert r["outcome"] == "hit"
    assert r["first_lick"]["side"] == "left"
    assert r["first_lick_latency_s"] == pytest.approx(0.13)
    assert r["response_side"] == "right"
    assert r["early_lick"] is True and r["early_lick_count"] == 1
    assert r["stage"] == "sample_autolearn"
    assert r["reward_ul"] == pytest.approx(2.5, abs=0.01)


def test_either_side_rewarded_records_the_licked_side(hardware: HardwareConfig) -> None:
    protocol = load_protocol("shaping.yaml")
    t = trial(
        hardware, protocol, "right", [Lick("left", "AnswerPeriod", 10)], stage="lick_either_side"
    )
    r = t.record
    assert r["outcome"] == "hit"
    assert r["response_side"] == "left"
    (valve,) = r["valves"]
    assert valve["side"] == "left"
    assert r["reward_ul"] == pytest.approx(delivered(hardware, "left", 2.5), abs=1e-4)


def test_an_aborted_trial_has_no_response_side(hardware: HardwareConfig) -> None:
    """The early lick that aborts is not a response: a no-response trial answered nothing."""
    protocol = load_protocol("tactile_T1.yaml", early_lick={"policy": "abort"})
    t = trial(hardware, protocol, "right", [Lick("left", "DelayPeriod", 400)])
    assert t.record["outcome"] == "no_response"
    assert t.record["response_side"] is None


def test_an_ignored_lick_at_the_end_of_the_window_is_not_the_response(
    hardware: HardwareConfig,
) -> None:
    """sample_autolearn ignores wrong licks. One in the very cycle the response window ends
    does not cause NoResponse (the timer does), so the trial has no response side."""
    protocol = load_protocol("shaping.yaml")
    answer = to_cycles(settings_for(protocol, "sample_autolearn").response_window_s - 0.1)
    t = trial(
        hardware,
        protocol,
        "right",
        [Lick("left", "AnswerPeriod", answer)],
        stage="sample_autolearn",
    )
    r = t.record
    assert r["outcome"] == "no_response"
    (no_response,) = entry_times(t.events, "NoResponse")
    assert r["licks"][0][1] == no_response  # the lick and the decision share a cycle
    assert r["response_side"] is None


# -- free drop, stop licking ----------------------------------------------------------------


@pytest.mark.parametrize("side", SIDES)
def test_free_drop_before_the_go_cue_is_recorded_as_free_drop(
    hardware: HardwareConfig, side: Side
) -> None:
    protocol = load_protocol("tactile_T1.yaml")
    t = trial(hardware, protocol, side, [Lick(side, "AnswerPeriod", 500)], free_drop=True)
    r = t.record
    assert r["free_drop"] is True
    drop, reward = r["valves"]
    assert drop["reason"] == "free_drop" and reward["reason"] == "reward"
    assert drop["side"] == reward["side"] == side
    assert drop["t"] == pytest.approx(r["t_delay"] + protocol.epochs.delay_s)
    assert drop["t"] < r["t_go"]
    assert r["free_drop_ul"] == pytest.approx(delivered(hardware, side, 2.5), abs=1e-4)
    assert r["reward_ul"] == pytest.approx(delivered(hardware, side, 2.5), abs=1e-4)
    assert r["outcome"] == "hit"


def test_licks_in_stop_licking_postpone_the_end(hardware: HardwareConfig) -> None:
    protocol = load_protocol("tactile_T1.yaml")
    licks = [
        Lick("left", "AnswerPeriod", 100),
        Lick("left", "StopLicking", 5000, entry=1),
        Lick("right", "StopLicking", 9000, entry=2),
    ]
    t = trial(hardware, protocol, "left", licks)
    r = t.record
    stops = entry_times(t.events, "StopLicking")
    assert len(stops) == 3
    assert r["t_end"] == pytest.approx(stops[-1] + protocol.epochs.stop_licking_s)
    assert r["early_lick"] is False
    assert len(r["licks"]) == 3 and all(lick[2] is not None for lick in r["licks"])


# -- incomplete events ----------------------------------------------------------------------


def test_incomplete_event_lists_raise(hardware: HardwareConfig) -> None:
    protocol = load_protocol("tactile_T1.yaml")
    t = trial(hardware, protocol, "left", [Lick("left", "AnswerPeriod", 100)])

    def summarize(events: list[DeviceEvent]) -> dict[str, Any]:
        return summarize_trial(
            t.spec,
            "tactile",
            "anterior",
            events,
            sm_hash="x",
            dead_time_ms=None,
            volume_ul=lambda s, o: hardware.valve(s).volume_ul(o),
        )

    assert summarize(t.events)["outcome"] == "hit"
    no_end = [e for e in t.events if e.kind != "trial_end"]
    no_start = [e for e in t.events if e.kind != "trial_start"]
    (decision,) = [i for i, e in enumerate(t.events) if e.name == "RewardLeft"]
    undecided = [*t.events[:decision], t.events[-1]]
    for events in (no_end, no_start, undecided, []):
        with pytest.raises(TrialRecordError, match="trial 1"):
            summarize(events)
    assert issubclass(TrialRecordError, ValueError)
