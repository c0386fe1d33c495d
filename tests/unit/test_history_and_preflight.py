"""Where a subject stands after its earlier sessions, and the checks before a session."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rig.fsm.executor import ReferenceExecutor
from rig.fsm.model import Output, State, StateMachine
from rig.schema import HardwareConfig, Protocol, load_model
from rig.session.history import check_subject_id, last_position, read_records
from rig.session.preflight import NO_LIGHT_YET, preflight
from rig.session.session import SessionRequest, run_session
from rig.task.context import Position


def _load(root: Path, name: str) -> tuple[Protocol, HardwareConfig]:
    return (
        load_model(root / "protocols" / name, Protocol),
        load_model(root / "hardware_configs/sim.yaml", HardwareConfig),
    )


def test_a_killed_session_is_replayed_from_its_files(root: Path, tmp_path: Path) -> None:
    protocol, hardware = _load(root, "continual_learning.yaml")
    done = run_session(SessionRequest(protocol, hardware, "m", 400, 3, tmp_path))
    meta_file = done.session_dir / "session.json"
    meta = json.loads(meta_file.read_text())
    ended_at = Position.from_json(meta["end_position"])
    assert ended_at.step >= 1  # it crossed T1's criterion: the replay must see that
    # now pretend the controller was killed: no end_position, a half-written last line
    del meta["end_position"]
    meta["status"] = "running"
    meta_file.write_text(json.dumps(meta))
    with (done.session_dir / "trials.jsonl").open("a") as f:
        f.write('{"trial": 401, "outc')
    assert last_position(tmp_path / "m", protocol.name) == ended_at


def test_replay_applies_the_operators_switches(root: Path, tmp_path: Path) -> None:
    protocol, hardware = _load(root, "continual_learning.yaml")
    done = run_session(SessionRequest(protocol, hardware, "m", 30, 3, tmp_path))
    meta_file = done.session_dir / "session.json"
    meta = json.loads(meta_file.read_text())
    del meta["end_position"]
    meta["context_switches"] = [
        {"after_trial": 10, "reason": "imaging done", "to_step": 4, "completed": False}
    ]
    meta_file.write_text(json.dumps(meta))
    position = last_position(tmp_path / "m", protocol.name)
    assert position is not None and position.step == 4 and position.trials_in_step == 20


def test_read_records_refuses_a_broken_line_in_the_middle(tmp_path: Path) -> None:
    path = tmp_path / "trials.jsonl"
    path.write_text('{"trial": 1}\nnot json\n{"trial": 3}\n')
    with pytest.raises(ValueError, match=r"trials.jsonl:2: not a JSON line"):
        read_records(path)


def test_a_corrupt_session_file_is_named(root: Path, tmp_path: Path) -> None:
    (tmp_path / "m" / "20260101-000000").mkdir(parents=True)
    (tmp_path / "m" / "20260101-000000" / "session.json").write_text('{"protocol": ')
    with pytest.raises(ValueError, match=r"20260101-000000/session.json: cannot read it as JSON"):
        last_position(tmp_path / "m", "anything")


def test_a_corrupt_simulated_mouse_is_named(root: Path, tmp_path: Path) -> None:
    protocol, hardware = _load(root, "tactile_T1.yaml")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "sim_mouse.json").write_text("{}")
    with pytest.raises(ValueError, match=r"sim_mouse.json: not a simulated mouse"):
        run_session(SessionRequest(protocol, hardware, "m", 5, 1, tmp_path))


@pytest.mark.parametrize("subject", ["", ".", "..", "../x", "/tmp/x", "a/b", "-x", "x" * 65])
def test_subject_ids_that_are_not_a_plain_folder_name_are_refused(subject: str) -> None:
    with pytest.raises(ValueError, match="use 1-64 letters"):
        check_subject_id(subject)


@pytest.mark.parametrize("subject", ["JH160", "mouse-01", "m_2.b"])
def test_plain_subject_ids_are_accepted(subject: str) -> None:
    assert check_subject_id(subject) == subject


def test_the_shipped_protocols_pass_preflight(root: Path) -> None:
    for path in sorted((root / "protocols").glob("*.yaml")):
        protocol, hardware = _load(root, path.name)
        if protocol.photostim is None:
            assert preflight(protocol, hardware) == []


def test_a_protocol_with_light_does_not_start_until_a_device_drives_light(root: Path) -> None:
    for name in ("photoinhibition.yaml", "photoinhibition_fraction.yaml"):
        protocol, hardware = _load(root, name)
        assert protocol.photostim is not None
        assert preflight(protocol, hardware) == [NO_LIGHT_YET]  # light checked, then refused


def test_preflight_builds_every_trial_variant(root: Path) -> None:
    protocol, hardware = _load(root, "shaping.yaml")
    # a stage that validation would refuse, slipped past it: preflight still catches it
    broken = protocol.stages["delay_0.5"].model_construct(
        **{**protocol.stages["delay_0.5"].__dict__, "response_window_s": 0.05}
    )
    stages = {**protocol.stages, "delay_0.5": broken}
    bad = Protocol.model_construct(**{**protocol.__dict__, "stages": stages})
    problems = preflight(bad, hardware)
    assert len(problems) == 2  # both sides of the step
    assert problems[0].startswith("curriculum step 6 (T1), left:")
    assert "timer_s" in problems[0]


def _bpod(root: Path, **channels: str) -> HardwareConfig:
    """The emulated Bpod's config with ``channels`` changed, past validation (as a config
    edited in memory, or one validation would refuse, reaches the pre-flight check)."""
    hardware = load_model(root / "hardware_configs/bpod-emulator.yaml", HardwareConfig)
    return hardware.model_copy(update={"channels": {**hardware.channels, **channels}})


def test_the_shipped_protocols_pass_preflight_on_the_emulated_bpod(root: Path) -> None:
    for path in sorted((root / "protocols").glob("*.yaml")):
        protocol = load_model(path, Protocol)
        assert preflight(protocol, _bpod(root)) == ([] if protocol.photostim is None
                                                    else [NO_LIGHT_YET])  # fmt: skip


@pytest.mark.parametrize("valve", ["Valve9", "Valve5"])  # no Bpod has 9; an r2 has 4
def test_preflight_refuses_a_valve_on_a_channel_the_bpod_lacks(
    root: Path, tmp_path: Path, valve: str
) -> None:
    protocol = load_model(root / "protocols/tactile_T1.yaml", Protocol)
    problems = preflight(protocol, _bpod(root, valve_left=valve))
    assert len(problems) == 1 and "channels.valve_left" in problems[0], problems
    assert f"{valve!r} is not a Bpod output line" in problems[0] or (
        f"'valve_left' is mapped to {valve!r}, not an output of this Bpod" in problems[0]
    )
    request = SessionRequest(protocol, _bpod(root, valve_left=valve), "m", 5, 1, tmp_path)
    with pytest.raises(ValueError, match="pre-flight check failed"):
        run_session(request)
    assert list(tmp_path.iterdir()) == []  # no session folder


def test_preflight_refuses_an_output_on_a_valves_bpod_channel(root: Path) -> None:
    protocol = load_model(root / "protocols/tactile_T1.yaml", Protocol)
    (problem,) = preflight(protocol, _bpod(root, pole_drop="Valve1"))
    assert "channels.pole_drop: Valve1 is already valve_left's" in problem


def test_preflight_for_a_real_bpod_checks_what_needs_no_connection(root: Path) -> None:
    protocol = load_model(root / "protocols/tactile_T1.yaml", Protocol)
    real = _bpod(root, valve_left="Valve5")
    real = real.model_copy(update={"device": real.device.model_copy(update={"url": "serial:///x"})})
    assert preflight(protocol, real) == []  # Valve5: a Bpod may have it; the compiler checks
    (problem,) = preflight(protocol, real.model_copy(update={"channels": {**real.channels,
                                                             "valve_left": "Valve9"}}))  # fmt: skip
    assert "channels.valve_left: 'Valve9' is not a Bpod output line" in problem


def test_a_skipped_deadline_is_an_error() -> None:
    machine = StateMachine(
        states=(
            State(
                name="a",
                timer_s=0.01,
                transitions={"Tup": "exit"},
                outputs=(Output(channel="go_cue", duration_s=0.005),),
            ),
        )
    )
    executor = ReferenceExecutor()
    executor.load(machine, 1)
    executor.start(1)
    executor.tick(1, ())
    assert executor.next_deadline() == 51
    with pytest.raises(ValueError, match="cycle 60 skips the deadline at cycle 51"):
        executor.tick(60, ())


def test_sessions_are_not_started_for_a_path_like_subject(root: Path, tmp_path: Path) -> None:
    protocol, hardware = _load(root, "tactile_T1.yaml")
    with pytest.raises(ValueError, match="use 1-64 letters"):
        run_session(SessionRequest(protocol, hardware, "../escape", 5, 1, tmp_path / "d"))
    assert not os.path.exists(tmp_path / "escape")
