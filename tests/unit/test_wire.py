"""Bus events through the wire format and back; bad frames are named."""

from __future__ import annotations

import pytest

from rig import bus
from rig.control.wire import EVENT_TYPES, WireError, decode, encode_body, encode_header

EXAMPLES: list[object] = [
    bus.DeviceEvents(
        (
            bus.DeviceEvent(3, "state", "SamplePeriod", 1.5, host_t=1.5003),
            bus.DeviceEvent(3, "output", "go_cue", 4.6, 255, 3700.0, 4.6001),
            bus.DeviceEvent(0, "trial_end", "", 9.1),
        )
    ),
    bus.SessionStarted("/d/m1/20261129-100000", "m1", "CL", "T1", {"steps": ["T1", "T2"]}),
    bus.TrialQueued(4, "T2'", "left", True, "abc"),
    bus.TrialCompleted({"trial": 1, "outcome": "hit", "licks": [["left", 1.0, 1.1]]}),
    bus.ContextSwitched(7, "T1", "T2", 100, "criterion", 0, 1),
    bus.OperatorActed("drop", {"side": "left"}, 12.5, 7, None, {"volume_ul": 2.5}),
    bus.RunnerStatus("paused", 7),
    bus.TrialAborted(8, 100.25),
    bus.TrialAborted(9, None),
    bus.ScopeAlarm(False, 12.5, "bridge silent"),
    bus.SessionEnded("completed", {"trials": 7}),
    bus.SubscriberFailed("gui", "TrialCompleted", "KeyError('x')"),
]


def test_every_event_type_is_in_the_examples() -> None:
    assert {type(e).__name__ for e in EXAMPLES} == set(EVENT_TYPES)


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_round_trip(event: object) -> None:
    message = decode(encode_header(41, type(event).__name__, 12.25), encode_body(event))
    assert (message.seq, message.type, message.mono) == (41, type(event).__name__, 12.25)
    assert message.event == event


def test_bad_frames_are_named() -> None:
    with pytest.raises(WireError, match="header frame"):
        decode(b"not json", b"{}")
    with pytest.raises(WireError, match="message 5: unknown event type 'Nope'"):
        decode(encode_header(5, "Nope", 0.0), b"{}")
    with pytest.raises(WireError, match=r"message 6 \(RunnerStatus\): body does not fit"):
        decode(encode_header(6, "RunnerStatus", 0.0), b'{"state": "x"}')
    with pytest.raises(WireError, match="not an event that crosses the wire"):
        encode_body(object())
