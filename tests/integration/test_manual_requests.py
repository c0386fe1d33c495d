"""The manual panel's ``manual`` request on a real controller, over real sockets, with no
session: before, every valve button answered "no session is running", so lines could not
be primed, and nothing of it was written down."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rig.control.client import ControllerClient, ControllerError
from rig.schema import HardwareConfig, load_model
from tests.scope.test_sync import wait

pytestmark = [pytest.mark.realtime]


def _manual(client: ControllerClient, action: str, **args: Any) -> dict[str, Any]:
    return client.request("manual", action=action, args=args)


def _done(client: ControllerClient) -> dict[str, Any]:
    assert wait(lambda: not _manual(client, "status")["running"], timeout=30)
    return _manual(client, "status")


def _log(client: ControllerClient) -> list[dict[str, Any]]:
    path = Path(_manual(client, "status")["log"])
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_valves_tones_and_pole_by_hand_with_no_session(
    client: ControllerClient, root: Path
) -> None:
    hardware = load_model(root / "hardware_configs/sim.yaml", HardwareConfig)
    hello = client.request("hello")
    data_dir = Path(hello["data_dir"])
    assert _manual(client, "flush", side="both", seconds=2)["started"] == "flush"
    status = _done(client)
    flushed = hardware.delivered_ul("left", 2.0) + hardware.delivered_ul("right", 2.0)
    assert status["flushed_ul"] == pytest.approx(flushed, abs=0.01)  # from the valves' events
    assert status["last"] == {
        "action": "flush",
        "args": {"side": "both", "seconds": 2},
        "given_ul": pytest.approx(flushed, abs=0.01),
        "flushed_ul": pytest.approx(flushed, abs=0.01),
        "total_ul": pytest.approx(flushed, abs=0.01),
        "total_flushed_ul": pytest.approx(flushed, abs=0.01),
        "stopped": False,
    }
    _manual(client, "drop", side="right")  # the reward volume at its calibrated open time
    drop = _done(client)["last"]["given_ul"]
    assert drop == pytest.approx(2.5, abs=0.05)
    _manual(client, "open", side="left", ms=40)
    opened = _done(client)["last"]["given_ul"]
    assert opened == pytest.approx(hardware.delivered_ul("left", 0.04), abs=0.01)
    _manual(client, "tone", tone="go_cue", seconds=0.5)
    assert _done(client)["last"]["given_ul"] == 0
    status = _done(client)
    assert status["given_ul"] == pytest.approx(flushed + drop + opened, abs=0.01)
    assert status["flushed_ul"] == pytest.approx(flushed, abs=0.01)
    # the pole stays in until "stop"; meanwhile the rig is busy with it
    _manual(client, "pole", position="anterior")
    assert client.request("hello")["busy"] == "manual: pole (position anterior)"
    with pytest.raises(ControllerError, match=r"busy \(manual: pole"):
        client.request("start", subject="m1", protocol="tactile_T1.yaml", trials=5)
    with pytest.raises(ControllerError, match=r"drop: the rig is busy \(manual: pole"):
        _manual(client, "drop", side="left")
    _manual(client, "stop")
    assert _done(client)["last"]["stopped"]
    assert client.request("hello")["busy"] == ""
    # every action (and the refusal) in the rig's operator.jsonl, outside any subject
    lines = _log(client)
    assert Path(_manual(client, "status")["log"]) == data_dir / ".rig/sim/operator.jsonl"
    assert [(x["action"], x["outcome"]) for x in lines] == [
        ("flush", "started"), ("flush", "done"), ("drop", "started"), ("drop", "done"),
        ("open", "started"), ("open", "done"), ("tone", "started"), ("tone", "done"),
        ("pole", "started"), ("drop", "refused"), ("stop", "done"), ("pole", "stopped"),
    ]  # fmt: skip
    assert lines[1]["given_ul"] == pytest.approx(flushed, abs=0.01)
    assert lines[1]["args"] == {"side": "both", "seconds": 2} and "T" in lines[1]["time"]
    assert "busy" in lines[9]["refused"]
    assert client.request("subjects")["subjects"] == []  # .rig is not a subject


def test_bounds_and_bad_arguments_are_refused_and_written_down(client: ControllerClient) -> None:
    for action, args, message in [
        ("open", {"side": "left", "ms": 500}, "open: ms must be in (0, 200] (valves.valve_left"),
        ("open", {"side": "up", "ms": 10}, "open: side must be left or right"),
        ("flush", {"side": "both", "seconds": 60}, "flush: seconds must be in (0, 10.0]"),
        ("drop", {"side": "left", "volume_ul": 50}, "50.0 uL is outside the calibrated"),
        ("tone", {"tone": "mid"}, "tone: tone must be one of go_cue, high, low"),
        ("pole", {"position": "left"}, "pole: position must be anterior or posterior"),
        ("dance", {}, "action: 'dance' is not one of"),
        ("stop", {}, "stop: no manual action is running"),
    ]:
        with pytest.raises(ControllerError, match=message.replace("(", r"\(").replace(")", r"\)")):
            _manual(client, action, **args)
    _manual(client, "flush", side="left", seconds=10)  # the valve's whole minute
    _done(client)
    with pytest.raises(ControllerError, match=r"valve_left .* passes the bound of 10 s a minute"):
        _manual(client, "flush", side="left", seconds=1)
    _manual(client, "flush", side="right", seconds=1)  # the other valve has its own
    _done(client)
    lines = _log(client)
    refused = [x for x in lines if x["outcome"] == "refused"]
    assert len(refused) == 9 and all(x["refused"] for x in refused)
    assert refused[-1]["args"] == {"side": "left", "seconds": 1}
    assert _manual(client, "status")["given_ul"] == pytest.approx(
        _manual(client, "status")["flushed_ul"]
    )


def test_while_a_session_runs_its_own_commands_give_the_water(client: ControllerClient) -> None:
    client.request("create_subject", subject="m1")
    client.request("start", subject="m1", protocol="tactile_T1.yaml", trials=400, weight_g=20)
    with pytest.raises(ControllerError, match=r"a session is running\): give drops and flushes"):
        _manual(client, "flush", side="both", seconds=1)
    with pytest.raises(ControllerError, match="busy"):
        _manual(client, "tone", tone="high")
    assert _manual(client, "status")["busy"] == "session"
    client.command("drop", side="left")  # what the panel sends while a session runs
    client.command("stop")
    assert wait(lambda: client.request("hello")["busy"] == "", timeout=60)
    assert [x["outcome"] for x in _log(client)] == ["refused", "refused"]
    assert _manual(client, "status")["given_ul"] == 0  # the session's drop is the session's
