"""A flush's water is counted: before, ``HandWater.count`` took only drops ("a flush primes
the line"), so a 2 s flush of both valves mid-session left the session's hand water at 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.bus import DeviceEvent
from rig.session.hand import HandWater
from rig.session.operator import check_command
from rig.session.runner import MANUAL
from tests.unit.test_operator import _events, _runner


def test_a_flush_in_a_session_is_counted_apart_from_the_drops(root: Path) -> None:
    runner, _, inbox, log, hardware = _runner(root, trials=2)
    inbox.put(check_command("flush", {"side": "both", "seconds": 2}))
    inbox.put(check_command("drop", {"side": "left"}))
    result = runner.run()
    edges = [e for e in _events(log) if e.trial == MANUAL and e.kind == "output"]
    opened: dict[str, float] = {}
    flushed = dropped = 0.0
    for e in edges:  # what the valves' own open and close gave, by the calibration
        if e.value:
            opened[e.name] = e.t
            continue
        volume = hardware.delivered_ul(e.name.split("_")[1], round(e.t - opened.pop(e.name), 4))
        if e.t - edges[0].t < 2.0 + 1e-6:
            flushed += volume
        else:
            dropped += volume
    assert flushed == pytest.approx(
        hardware.delivered_ul("left", 2.0) + hardware.delivered_ul("right", 2.0)
    )
    assert flushed > 300  # about 180 uL a valve: far from nothing
    assert dropped == pytest.approx(2.5, abs=0.01)
    assert result.hand_water_ul == pytest.approx(flushed + dropped, abs=1e-3)
    assert runner._hand.flushed_ul == pytest.approx(flushed)


def test_count_returns_each_opening_once_it_closes() -> None:
    hand = HandWater(lambda side, open_s: {"left": 100.0, "right": 50.0}[side] * open_s)

    def edge(name: str, value: int, t: float) -> DeviceEvent:
        return DeviceEvent(MANUAL, "output", name, t, value)

    assert hand.count(edge("valve_left", 1, 1.0), "open") == 0.0
    assert hand.count(edge("valve_left", 0, 1.05), "open") == pytest.approx(5.0)
    assert hand.count(edge("valve_right", 0, 2.0), "flush") == 0.0  # never seen open
    hand.count(edge("valve_right", 1, 3.0), "flush")
    assert hand.count(edge("valve_right", 0, 5.0), "flush") == pytest.approx(100.0)
    assert (hand.given_ul, hand.flushed_ul) == (pytest.approx(105.0), pytest.approx(100.0))
