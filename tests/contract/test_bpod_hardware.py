"""Bpod hardware descriptions against the reference's numbers (sections 2.4, 7.2, 7.3)."""

from __future__ import annotations

import pytest

from rig.devices.bpod import PROFILES, BpodHardware, HardwareError

# bpod-core's own fixture for the 2+ (reference section 2.4)
TWO_PLUS_H = bytes.fromhex("0001 6400 4B 05 10 08 10 10") + b"UUUXZFFFFBBPPPPP"
TWO_PLUS_H += b"\x15" + b"UUUXZFFFFBBPPPPPVVVVV"


def test_the_2plus_h_reply_is_byte_for_byte_the_fixture() -> None:
    assert PROFILES["2plus-fw23"].h_reply() == TWO_PLUS_H
    parsed = BpodHardware.from_h_reply(TWO_PLUS_H, firmware=23, machine_type=4)
    assert parsed.with_allocation(parsed.default_allocation()) == PROFILES["2plus-fw23"]


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_h_replies_round_trip(name: str) -> None:
    hw = PROFILES[name]
    parsed = BpodHardware.from_h_reply(hw.h_reply(), hw.firmware, hw.machine_type)
    assert parsed.with_allocation(hw.allocation) == hw


def test_fw22_has_no_message_size_byte() -> None:
    reply = PROFILES["r2-fw22"].h_reply()
    assert reply[:5] == bytes.fromhex("0001 6400 5A") and reply[5:8] == bytes([16, 8, 16])


@pytest.mark.parametrize("cut", [0, 3, 9, -1])
def test_a_cut_reply_is_refused(cut: int) -> None:
    with pytest.raises(HardwareError):
        BpodHardware.from_h_reply(TWO_PLUS_H[:cut], firmware=23, machine_type=4)


# (profile, event, index) from reference section 7.2
EVENTS = [
    ("r2-fw22", "SoftCode1", 75), ("r2-fw22", "BNC1High", 90), ("r2-fw22", "Port1In", 94),
    ("r2-fw22", "Port2Out", 97), ("r2-fw22", "GlobalTimer1_Start", 102),
    ("r2-fw22", "GlobalTimer1_End", 118), ("r2-fw22", "GlobalCounter1_End", 134),
    ("r2-fw22", "Condition1", 142), ("r2-fw22", "Tup", 158),
    ("r2-fw23", "APP_SoftCode0", 90), ("r2-fw23", "BNC1High", 105), ("r2-fw23", "Port1In", 109),
    ("r2-fw23", "Port2In", 111), ("r2-fw23", "GlobalTimer1_Start", 117),
    ("r2-fw23", "GlobalTimer1_End", 133), ("r2-fw23", "Tup", 173),
    ("2plus-fw23", "Flex1High", 75), ("2plus-fw23", "BNC1High", 83), ("2plus-fw23", "Port1In", 87),
    ("2plus-fw23", "Port5Out", 96), ("2plus-fw23", "GlobalTimer1_Start", 97),
    ("2plus-fw23", "Condition1", 137), ("2plus-fw23", "Tup", 153),
    ("r1-fw22", "BNC1High", 60), ("r1-fw22", "Wire1High", 64), ("r1-fw22", "Port1In", 68),
    ("r1-fw22", "GlobalTimer1_Start", 84), ("r1-fw22", "Tup", 104),
]  # fmt: skip


@pytest.mark.parametrize(("profile", "event", "index"), EVENTS)
def test_event_indices_match_the_reference(profile: str, event: str, index: int) -> None:
    assert PROFILES[profile].event_index(event) == index


@pytest.mark.parametrize(
    ("profile", "names"),
    [
        ("r2-fw23", {"SoftCode": 5, "APP_SoftCode": 6, "BNC1": 7, "PWM1": 9, "Valve1": 13}),
        ("2plus-fw23", {"SoftCode": 3, "Flex1": 5, "BNC1": 9, "PWM1": 11, "Valve1": 16}),
        ("r2-fw22", {"SoftCode": 5, "BNC1": 6, "PWM1": 8, "Valve1": 12}),
    ],
)
def test_output_indices_match_the_reference(profile: str, names: dict[str, int]) -> None:
    hw = PROFILES[profile]
    assert {name: hw.output_index(name) for name in names} == names


def test_unknown_names_are_refused() -> None:
    with pytest.raises(HardwareError, match="no event 'Port9In'"):
        PROFILES["r2-fw23"].event_index("Port9In")
    with pytest.raises(HardwareError, match="allocation"):
        PROFILES["r2-fw23"].with_allocation((200,) * 7)
    assert PROFILES["r2-fw23"].input_index("Port1") == 9
