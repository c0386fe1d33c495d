"""The controller over real ZeroMQ sockets: requests, refusals, and the event stream's
catch-up for a client that attaches late."""

from __future__ import annotations

import time

import pytest

from rig.control.client import ControllerClient, ControllerError, EventStream
from rig.control.server import events_endpoint
from rig.control.wire import Message
from tests.scope.test_sync import wait

pytestmark = [pytest.mark.realtime]


def test_endpoints() -> None:
    assert events_endpoint("tcp://*:5555") == "tcp://*:5556"
    assert events_endpoint("ipc:///tmp/x") == "ipc:///tmp/x.events"
    with pytest.raises(ValueError, match="use tcp://HOST:PORT or ipc://PATH"):
        events_endpoint("udp://x:1")


def test_requests_and_refusals(client: ControllerClient) -> None:
    hello = client.request("hello")
    assert hello["rig"] == "sim" and hello["busy"] == ""
    assert "continual_learning.yaml" in hello["protocols"]
    assert set(hello["valves"]) == {"valve_left", "valve_right"}
    for cmd, args, message in [
        ("dance", {}, "unknown request 'dance'"),
        ("command", {"action": "pause"}, "no session is running"),
        ("annotate", {"notes": "x"}, "no finished session"),
        ("create_subject", {"subject": "../etc"}, "subject '../etc'"),
        ("create_subject", {"subject": "reports"}, "kept for rig report's folder"),
        ("start", {"subject": "m1", "protocol": "missing.yaml"}, "missing.yaml"),
        ("start", {"subject": "m1", "protocol": "tactile_T1.yaml", "weight_g": 500}, "weight_g"),
        ("calibrate", {"valve": "valve_up"}, "valve: 'valve_up'"),
        ("save_calibration", {"valve": "valve_left", "points": [[0.01, 2.0], [0.02, 1.0]]},
         "not saved, questioned: the volume falls"),
        ("save_calibration", {"valve": "valve_left", "points": [[0.01, 2.0], [0.02, 1.0]],
                              "confirmed": True}, "valves.valve_left.points"),
        ("save_calibration", {"valve": "valve_left", "points": [[0.01, "a"]]}, "points.0: "),
    ]:  # fmt: skip
        with pytest.raises(ControllerError, match=message.replace(".", r"\.")):
            client.request(cmd, **args)


def _until_ended(stream: EventStream, deadline: float) -> list[Message]:
    messages: list[Message] = []
    while not messages or messages[-1].type != "SessionEnded":
        assert time.monotonic() < deadline, "the session did not end in time"
        stream.wakeup.wait(0.5)
        messages += stream.take()
    return messages


def test_a_late_client_gets_the_whole_session_in_order(client: ControllerClient) -> None:
    early = EventStream(client)
    client.request("create_subject", subject="m1")
    client.request("start", subject="m1", protocol="tactile_T1.yaml", trials=8, weight_g=20)
    with pytest.raises(ControllerError, match="busy"):
        client.request("start", subject="m1", protocol="tactile_T1.yaml", trials=8)
    deadline = time.monotonic() + 60
    live = _until_ended(early, deadline)
    early.close()
    stream = EventStream(client)  # attaches after the session ended
    messages = _until_ended(stream, deadline)
    stream.close()
    assert [m.seq for m in live] == [m.seq for m in messages]
    hello = client.request("hello")
    seqs = [m.seq for m in messages]
    assert seqs == list(range(hello["first_seq"], hello["last_seq"] + 1))
    assert stream.recovered == len(messages) and not stream.errors
    assert messages[0].type == "SessionStarted"
    assert sum(m.type == "TrialCompleted" for m in messages) == 8
    client.request("annotate", weight_g=20.5, notes="ok")


def test_calibration_through_the_controller(client: ControllerClient) -> None:
    reply = client.request("calibrate", valve="valve_right", open_s=0.04, pulses=20, interval_s=0.1)
    assert reply == {"ok": True, "started": True, "pulses": 20}  # answered at once
    assert wait(lambda: not client.request("calibration")["running"], timeout=30)
    reply = client.request("calibration")
    assert reply["openings"] == 20 and not reply["aborted"]
    assert reply["simulated_weight_mg"] == pytest.approx(20 * 3.7, rel=0.1)
    reply = client.request("spot_check", valve="valve_right", open_s=0.04, pulses=20,
                           weight_mg=20 * 3.7 * 1.2)  # fmt: skip
    assert reply["drift_percent"] == pytest.approx(20.0)
    assert any("valve_right's spot check" in w for w in client.request("hello")["warnings"])


def test_bad_requests_never_take_the_controller_down(client: ControllerClient) -> None:
    import zmq

    raw = zmq.Context.instance().socket(zmq.REQ)
    raw.setsockopt(zmq.LINGER, 0)
    raw.connect(client.endpoint)
    raw.send(b"{not json")
    assert raw.poll(10_000)
    assert "not JSON" in raw.recv_json()["error"]  # type: ignore[index]
    raw.close()
    with pytest.raises(ControllerError, match="suggest: 'subject' is required"):
        client.request("suggest")
    with pytest.raises(ControllerError, match="trials: None is not a whole number"):
        client.request("start", subject="m1", protocol="tactile_T1.yaml", trials=None)
    assert client.request("hello")["rig"] == "sim"  # still serving


def test_a_session_that_fails_to_start_is_not_mistaken_for_the_last(
    client: ControllerClient,
) -> None:
    stream = EventStream(client)
    client.request("create_subject", subject="m2")
    client.request("start", subject="m2", protocol="tactile_T1.yaml", trials=3, weight_g=20)
    deadline = time.monotonic() + 60
    first = _until_ended(stream, deadline)
    assert first[-1].event.status == "completed"
    # starting elsewhere than suggested without a reason: refused in the session thread
    client.request("start", subject="m2", protocol="tactile_T1.yaml", trials=3, start_step=0)
    failed = _until_ended(stream, deadline)
    stream.close()
    assert [m.type for m in failed] == ["SessionEnded"]
    assert failed[0].event.status == "crashed" and "reason" in failed[0].event.summary["error"]
    with pytest.raises(ControllerError, match="no finished session"):
        client.request("annotate", weight_g=21.0)  # not written into the previous session
    with pytest.raises(ControllerError, match=r"the session has ended|no session is running"):
        client.request("command", action="note", args={"text": "late"})
