"""Dead time is the rig's own gap between trials: pauses and hand drops or flushes are
recorded apart (``paused_ms``, ``hand_ms``), not counted as dead time."""

from __future__ import annotations

from pathlib import Path

from rig.bus import TrialCompleted
from rig.session.deadtime import Gap, Gaps, recorded_gap
from rig.session.operator import check_command
from tests.unit.test_operator import _runner


def test_a_pause_and_a_flush_are_not_dead_time() -> None:
    """The numbers of the issue: 16.6 s paused, a 2 s flush; each gap keeps its part."""
    gaps = Gaps()
    gaps.queued(idle=True)
    assert gaps.started(0.0, manual=False) is not None  # trial 1: no gap before it
    gaps.queued(idle=False)  # trial 2 queued while trial 1 runs (RunASAP)
    gaps.ended(5.0, manual=False, paused=False)
    assert gaps.started(5.0001, manual=False) == Gap(0.1, 0.0, 0.0)
    gaps.pause()  # paused during trial 2, before trial 3 could be queued
    gaps.ended(10.0, manual=False, paused=True)
    gaps.queued(idle=True)  # the resume, 16.629 s later
    gap = gaps.started(26.629, manual=False)
    assert gap is not None and (gap.dead_ms, gap.paused_ms, gap.hand_ms) == (None, 16629.0, 0.0)
    gaps.queued(idle=False)  # a 2 s flush, asked while trial 3 runs
    gaps.ended(30.0, manual=False, paused=False)
    assert gaps.started(30.0001, manual=True) is None
    gaps.ended(32.0001, manual=True, paused=False)
    gaps.queued(idle=True)  # trial 4 can be queued only once the flush is over
    gap = gaps.started(32.0083, manual=False)
    assert gap is not None and (gap.dead_ms, gap.paused_ms, gap.hand_ms) == (0.1, 0.0, 2008.2)


def test_the_runner_records_the_gap_split(root: Path) -> None:
    """Paused after trial 2 (trial 3 already on the device), a drop while paused, then the
    resume; a drop asked during trial 6. Before: trial 4's and trial 7's dead time held the
    drop (and the pause)."""
    runner, bus, inbox, log, _ = _runner(root, trials=8)

    def on_trial(e: TrialCompleted) -> None:
        if e.record["trial"] == 2:
            inbox.put(check_command("pause", {}))
        if e.record["trial"] == 5:
            inbox.put(check_command("drop", {"side": "left"}))

    bus.subscribe(TrialCompleted, on_trial)
    inbox.on_wait = [check_command("drop", {"side": "right"}), check_command("resume", {})]
    runner.run()
    records = {x.record["trial"]: x.record for x in log if isinstance(x, TrialCompleted)}
    for n, r in records.items():
        gap_ms = 0.0 if n == 1 else (r["t_start"] - records[n - 1]["t_end"]) * 1000
        parts = (r["dead_time_ms"] or 0.0) + r["paused_ms"] + r["hand_ms"]
        assert abs(parts - gap_ms) < 1e-6, (n, r["dead_time_ms"], r["paused_ms"], r["hand_ms"])
    assert records[1]["dead_time_ms"] is None
    # one device cycle, wherever the next machine was queued before the device went idle
    assert {records[n]["dead_time_ms"] for n in (2, 3, 5, 6, 7, 8)} == {0.1}
    # trial 4: the device waited for the operator all along (the paused stretches), and ran
    # the drop (hand): none of it was the rig's own gap
    assert records[4]["dead_time_ms"] is None and records[4]["paused_ms"] > 0
    assert records[4]["hand_ms"] > 20  # the drop's open valve (about 27 ms)
    # trial 7: after the drop, the wait to queue it counts with the drop
    assert records[7]["hand_ms"] > 20 and records[7]["paused_ms"] == 0
    assert all(records[n]["hand_ms"] == records[n]["paused_ms"] == 0 for n in (2, 3, 5, 6, 8))


def test_a_rebuilt_record_takes_the_hand_machines_from_the_events() -> None:
    assert recorded_gap(None, 3.0, []) == Gap(None, 0.0, 0.0)
    assert recorded_gap(1.0, 1.0001, []).dead_ms == 0.1
    gap = recorded_gap(1.0, 3.0082, [(0.5, 0.7), (1.0001, 3.0001)])
    assert (gap.dead_ms, gap.paused_ms, gap.hand_ms) == (0.1, 0.0, 2008.1)
