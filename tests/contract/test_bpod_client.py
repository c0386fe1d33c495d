"""The rig's Bpod client against the emulated firmware on virtual time (no pty, no clock)."""

from __future__ import annotations

import pytest

from rig.devices.bpod import PROFILES, compile_machine
from rig.devices.bpod.client import BpodClient, BpodError, DeviceLost
from rig.devices.bpod.decoder import Events, SoftCode, TrialEnd, TrialStart
from rig.fsm.model import EXIT, State, StateMachine
from rig.sim.bpod.firmware import BpodFirmware
from rig.sim.bpod.loopback import LoopbackTransport


def until(client: BpodClient, wanted: type, seconds: float = 2.0) -> list[object]:
    """Poll (on the device's virtual clock) until a message of type ``wanted`` arrives."""
    seen: list[object] = []
    for _ in range(int(seconds / 0.01)):
        seen += client.poll(0.01)
        if any(isinstance(m, wanted) for m in seen):
            return seen
    raise AssertionError(f"no {wanted.__name__} in {seen}")


def client_for(profile: str) -> tuple[BpodClient, BpodFirmware]:
    firmware = BpodFirmware(PROFILES[profile])
    transport = LoopbackTransport(firmware)
    client = BpodClient(transport, clock=transport.clock, sleep=transport.sleep)
    return client, firmware


@pytest.mark.parametrize("profile", ["r2-fw22", "r2-fw23", "2plus-fw23"])
def test_connect_identifies_and_configures(profile: str) -> None:
    client, firmware = client_for(profile)
    for _ in range(2500):  # an unconnected Bpod has sent discovery bytes meanwhile
        firmware.tick()
    hw = client.connect(inputs=["Port1", "Port2"])
    expected = PROFILES[profile]
    assert (hw.firmware, hw.machine_type, hw.inputs) == (
        expected.firmware, expected.machine_type, expected.inputs,
    )  # fmt: skip
    assert firmware.allocation == expected.default_allocation()
    enabled = {name for name, on in zip(hw.input_names(), firmware.enabled, strict=True) if on}
    assert {"Port1", "Port2", "BNC1", "BNC2"} <= enabled and "Port3" not in enabled


def test_override_and_soft_codes_reach_the_device() -> None:
    client, firmware = client_for("r2-fw23")
    hw = client.connect()
    driven: list[tuple[int, int]] = []
    firmware.on_output = lambda index, value: driven.append((index, value))
    client.override("Valve2", 1)
    client.echo_soft_code(7)
    messages = until(client, SoftCode)
    assert driven == [(hw.output_index("Valve2"), 1)]
    assert [m.code for m in messages if isinstance(m, SoftCode)] == [7]  # between trials
    waiting = StateMachine(states=(State(name="wait", timer_s=1.0, transitions={"Tup": EXIT}),))
    client.send_machine(compile_machine(waiting, hw, {}).message)
    until(client, TrialStart)
    client.soft_code(2)
    stream = until(client, Events)
    soft = hw.event_index("SoftCode3")  # 0-based code 2 is MATLAB's SoftCode3
    assert any(isinstance(m, Events) and soft in m.codes for m in stream)
    client.echo_soft_code(9)
    assert any(isinstance(m, SoftCode) and m.code == 9 for m in until(client, SoftCode))
    until(client, TrialEnd)


def test_a_device_that_never_answers_is_lost() -> None:
    class Silent:
        name = "silent://"

        def write(self, data: bytes) -> None:
            pass

        def read(self, timeout: float) -> bytes:
            self.now += timeout
            return b""

        def close(self) -> None:
            pass

        now = 0.0

    silent = Silent()
    client = BpodClient(silent, clock=lambda: silent.now, sleep=lambda s: None)
    with pytest.raises(DeviceLost, match="silent://: no reply to b'6' within 1 s"):
        client.connect()


def test_unsupported_firmware_is_refused() -> None:
    profile = PROFILES["r2-fw23"]
    firmware = BpodFirmware(profile.__class__(**{**profile.__dict__, "firmware": 21}))
    transport = LoopbackTransport(firmware)
    client = BpodClient(transport, clock=transport.clock, sleep=transport.sleep)
    with pytest.raises(BpodError, match="firmware 21"):
        client.connect()


def test_connect_enumerates_the_module_ports() -> None:
    client, _ = client_for("2plus-fw23")
    client.connect()
    assert client.modules == (None, None, None)  # three UARTs, nothing plugged in


def test_flexio_configuration_is_answered_on_the_2plus_only() -> None:
    fw = BpodFirmware(PROFILES["2plus-fw23"])
    fw.receive(b"Q\x02\x02\x00\x01" + b"q" + b"e\x01\x00\x01" + b"e\x07\x00\x01" + b"_")
    for _ in range(6):
        fw.tick()
    assert fw.read() == b"\x01" + bytes([2, 2, 0, 1]) + b"\x01" + bytes([8, 1])
    r2 = BpodFirmware(PROFILES["r2-fw23"])
    r2.receive(b"q_")
    for _ in range(3):
        r2.tick()
    assert r2.read() == b""
