"""Water by hand is bounded a minute, queued commands included: N flushes queued in a row
gave N x 10 s of open valve before."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.bus import OperatorActed
from rig.session.hand import DROPS_PER_MINUTE, OPEN_S_PER_MINUTE, HandWater
from rig.session.operator import OperatorError, check_command
from rig.session.runner import MANUAL
from tests.unit.test_operator import _events, _runner


def test_the_bound_counts_a_minute_back_per_valve() -> None:
    hand = HandWater(lambda side, open_s: 0.0)
    hand.take("flush", ("valve_left", "valve_right"), OPEN_S_PER_MINUTE, now=100.0)
    with pytest.raises(OperatorError, match=r"valve_left .* 10.00 s .* try again in 30 s"):
        hand.take("flush", ("valve_left",), 1.0, now=130.0)
    with pytest.raises(OperatorError, match="valve_right"):
        hand.take("drop", ("valve_right",), 0.03, now=159.0)
    hand.take("flush", ("valve_left",), 1.0, now=160.0)  # a minute later: free again
    for i in range(DROPS_PER_MINUTE):
        hand.take("drop", ("valve_right",), 0.03, now=200.0 + i)
    with pytest.raises(OperatorError, match=f"{DROPS_PER_MINUTE} drops from valve_right"):
        hand.take("drop", ("valve_right",), 0.03, now=220.0)
    hand.take("drop", ("valve_left",), 0.03, now=220.0)  # the other valve has its own


def test_queued_flushes_do_not_add_up_on_the_device(root: Path) -> None:
    runner, _, inbox, log, _ = _runner(root, trials=2)
    for _ in range(5):
        inbox.put(check_command("flush", {"side": "left", "seconds": 10}))
    result = runner.run()
    assert result.trials_completed == 2
    acted = [x for x in log if isinstance(x, OperatorActed) and x.action == "flush"]
    assert len(acted) == 5
    refused = [x.detail["refused"] for x in acted if "refused" in x.detail]
    assert len(refused) == 4 and all("passes the bound" in r for r in refused)
    hand = [e for e in _events(log) if e.trial == MANUAL and e.kind == "output"]
    assert [(e.name, e.value) for e in hand] == [("valve_left", 1), ("valve_left", 0)]
    assert hand[1].t - hand[0].t == pytest.approx(10.0, abs=1e-3)  # 10 s, not 50 s
