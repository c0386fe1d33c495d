"""The bus: typed events reach their subscribers; a failing subscriber is isolated."""

from __future__ import annotations

import pytest

from rig.bus import Bus, ContextSwitched, SubscriberFailed, TrialQueued

QUEUED = TrialQueued(1, "T1", "left", False, "abc")


def test_events_reach_only_subscribers_of_their_type() -> None:
    bus = Bus()
    got: list[object] = []
    bus.subscribe(TrialQueued, got.append)
    bus.publish(QUEUED)
    bus.publish(ContextSwitched(1, "T1", "T2", 100, "criterion"))
    assert got == [QUEUED]


def test_unsubscribe() -> None:
    bus = Bus()
    got: list[object] = []
    unsubscribe = bus.subscribe(TrialQueued, got.append)
    unsubscribe()
    bus.publish(QUEUED)
    assert got == []


def test_a_failing_subscriber_does_not_stop_the_others() -> None:
    bus = Bus()
    got: list[object] = []
    failures: list[SubscriberFailed] = []

    def broken(_: object) -> None:
        raise RuntimeError("plot crashed")

    bus.subscribe(TrialQueued, broken)
    bus.subscribe(TrialQueued, got.append)
    bus.subscribe(SubscriberFailed, failures.append)
    bus.publish(QUEUED)
    assert got == [QUEUED]
    assert len(bus.failures) == 1 and failures == bus.failures
    assert "plot crashed" in failures[0].error and failures[0].event == "TrialQueued"


def test_a_critical_subscriber_failure_is_raised_after_the_others_ran() -> None:
    bus = Bus()
    got: list[object] = []

    def recorder(_: object) -> None:
        raise OSError(28, "No space left on device")

    bus.subscribe(TrialQueued, recorder, critical=True)
    bus.subscribe(TrialQueued, got.append)
    with pytest.raises(OSError, match="No space left"):
        bus.publish(QUEUED)
    assert got == [QUEUED]


def test_progress_bar_ends_its_line_when_a_session_stops_early() -> None:
    import io

    from rig.bus import TrialCompleted
    from rig.session.progress import ProgressBar

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    bar = ProgressBar(10, stream=out)
    bus = Bus()
    bar.attach(bus)
    record = {
        "outcome": "hit", "instructed": "left", "early_lick": False, "free_drop": False,
        "free_drop_given": False, "reward_ul": 2.5, "free_drop_ul": 0.0,
        "context_label": "T1", "response_side": "left",
    }  # fmt: skip
    bus.publish(TrialCompleted(record))
    assert out.getvalue().startswith("\r[###") and not out.getvalue().endswith("\n")
    bar.close()
    assert out.getvalue().endswith("\n")
    bar.close()
    assert out.getvalue().count("\n") == 1
