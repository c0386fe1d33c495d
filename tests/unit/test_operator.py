"""The operator's commands, checked, and applied by the runner on the virtual device."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from rig.bus import (
    Bus,
    ContextSwitched,
    DeviceEvent,
    DeviceEvents,
    OperatorActed,
    RunnerStatus,
    TrialAborted,
    TrialCompleted,
    TrialQueued,
)
from rig.schema import HardwareConfig, Protocol, load_model
from rig.session.operator import (
    Inbox,
    OperatorCommand,
    OperatorError,
    check_command,
    edited_protocol,
)
from rig.session.planner import TrialPlanner
from rig.session.runner import MANUAL, SessionRunner
from rig.sim.subject import new_brain, simulated_device


@pytest.mark.parametrize(
    ("action", "args", "message"),
    [
        ("dance", {}, "unknown command 'dance'"),
        ("drop", {"side": "up"}, "drop: side must be left or right"),
        ("flush", {"side": "both", "seconds": 60}, "flush: seconds must be in (0, 10.0]"),
        ("flush", {"side": "middle", "seconds": 1}, "flush: side must be"),
        ("switch", {"reason": "  "}, "switch: a reason is required"),
        ("switch", {"reason": "x", "to_step": -1}, "switch: to_step must be a step number"),
        ("set", {"path": "contexts.T1.modality", "value": "auditory"}, "not editable"),
        ("set", {"path": "reward", "value": 1}, "not editable"),
        ("set", {"path": "reward.volume_ul"}, "a value is required"),
        ("note", {"text": ""}, "note: the text is empty"),
    ],
)
def test_bad_commands_are_refused_with_the_field(
    action: str, args: dict[str, Any], message: str
) -> None:
    with pytest.raises(OperatorError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_command(action, args)


def test_a_live_edit_is_validated_like_the_file(root: Path) -> None:
    protocol = load_model(root / "protocols/tactile_T1.yaml", Protocol)
    edited, old = edited_protocol(protocol, "reward.volume_ul", 3.0)
    assert (edited.reward.volume_ul, old) == (3.0, protocol.reward.volume_ul)
    assert protocol.reward.volume_ul != 3.0  # the running protocol is not touched
    with pytest.raises(OperatorError, match=r"set reward.volume_ul = 99: .*less than or equal"):
        edited_protocol(protocol, "reward.volume_ul", 99)
    with pytest.raises(OperatorError, match="no field 'volume'"):
        edited_protocol(protocol, "reward.volume", 1.0)


class ScriptedInbox(Inbox):
    """Commands put at chosen moments (from bus subscribers); a blocking wait (the runner
    paused with nothing on the device) is answered by ``on_wait``."""

    def __init__(self) -> None:
        super().__init__()
        self.waits = 0
        self.on_wait: list[OperatorCommand] = []

    def get(self, timeout: float | None = None) -> OperatorCommand | None:
        if timeout != 0:
            self.waits += 1
            if self.on_wait:
                return self.on_wait.pop(0)
            raise AssertionError("the runner waited with nothing left to tell it")
        return super().get(0)


def _runner(root: Path, trials: int, protocol_file: str = "tactile_T1.yaml") -> tuple[
    SessionRunner, Bus, ScriptedInbox, list[Any], HardwareConfig
]:  # fmt: skip
    protocol = load_model(root / "protocols" / protocol_file, Protocol)
    hardware = load_model(root / "hardware_configs/sim.yaml", HardwareConfig)
    rng = random.Random(3)
    planner = TrialPlanner(protocol, hardware, rng)
    device = simulated_device(hardware, new_brain(protocol, hardware, random.Random(1)), rng)
    bus, inbox, log = Bus(), ScriptedInbox(), []
    for cls in (DeviceEvents, OperatorActed, RunnerStatus, TrialAborted, TrialCompleted,
                TrialQueued, ContextSwitched):  # fmt: skip
        bus.subscribe(cls, log.append)
    runner = SessionRunner(
        device, planner, bus, max_trials=trials, volume_ul=hardware.delivered_ul, inbox=inbox
    )
    return runner, bus, inbox, log, hardware


def _events(log: list[Any]) -> list[DeviceEvent]:
    return [e for x in log if isinstance(x, DeviceEvents) for e in x.events]


def test_pause_holds_the_next_trial_and_a_drop_runs_while_paused(root: Path) -> None:
    runner, bus, inbox, log, hardware = _runner(root, trials=6)
    bus.subscribe(
        TrialCompleted,
        lambda e: inbox.put(check_command("pause", {})) if e.record["trial"] == 2 else None,
    )
    inbox.on_wait = [check_command("drop", {"side": "right"}), check_command("resume", {})]
    result = runner.run()
    assert result.trials_completed == 6 and not result.stopped_early
    assert inbox.waits == 2  # paused and idle: it waited for the operator, twice
    statuses = [x.status for x in log if isinstance(x, RunnerStatus)]
    assert statuses[:3] == ["running", "pausing", "paused"] and statuses[-1] == "running"
    # the pause came after trial 2 ended, when trial 3 was already on the device: trial 3
    # ran to its end, then nothing but the drop until the resume
    events = _events(log)
    order = [(e.trial, e.kind) for e in events if e.kind in ("trial_start", "trial_end")]
    i = order.index((3, "trial_end"))
    assert order[i + 1 : i + 4] == [
        (MANUAL, "trial_start"),
        (MANUAL, "trial_end"),
        (4, "trial_start"),
    ]
    drop = [e for e in events if e.trial == MANUAL and e.kind == "output"]
    assert [(e.name, e.value) for e in drop] == [("valve_right", 1), ("valve_right", 0)]
    opened = drop[1].t - drop[0].t
    assert opened == pytest.approx(hardware.valve("right").open_time_s(2.5), abs=1e-4)
    # what the valve gave in the time the device held it open (a whole number of cycles)
    assert result.hand_water_ul == round(hardware.delivered_ul("right", round(opened, 4)), 3)
    assert abs(result.hand_water_ul - 2.5) < 0.01


def test_abort_ends_the_running_trial_now(root: Path) -> None:
    runner, bus, inbox, log, _ = _runner(root, trials=10)

    def on_events(batch: DeviceEvents) -> None:
        if any(
            e.trial == 3 and e.kind == "state" and e.name == "SamplePeriod" for e in batch.events
        ):
            inbox.put(check_command("abort", {}))

    bus.subscribe(DeviceEvents, on_events)
    result = runner.run()
    assert result.aborted and result.stopped_early
    assert result.trials_completed == 2
    (aborted,) = [x for x in log if isinstance(x, TrialAborted)]
    assert aborted.trial == 3
    trial3 = [e for e in _events(log) if e.trial == 3]
    states = [e.name for e in trial3 if e.kind == "state"]
    assert states[-1] == "SamplePeriod"  # it never reached the delay or the go cue
    assert trial3[-1].kind == "trial_end" and trial3[-1].t == pytest.approx(aborted.t)
    assert not any(e.kind == "trial_start" and e.trial > 3 for e in _events(log))
    assert not [e for e in trial3 if e.kind == "output" and e.value and e.name.startswith("valve")]


def test_switch_and_edits_apply_from_the_next_planned_trial(root: Path) -> None:
    runner, bus, inbox, log, _ = _runner(root, trials=8, protocol_file="continual_learning.yaml")
    commands = [
        check_command("set", {"path": "epochs.delay_s", "value": 0.5}),
        check_command("switch", {"reason": "operator's call"}),
        check_command("set", {"path": "epochs.delay_s", "value": -1}),
        check_command("note", {"text": "whiskers trimmed"}),
    ]
    bus.subscribe(
        TrialCompleted,
        lambda e: [inbox.put(c) for c in commands] if e.record["trial"] == 3 else None,
    )
    records: list[dict[str, Any]] = []
    bus.subscribe(TrialCompleted, lambda e: records.append(e.record))
    runner.run()
    acted = [x for x in log if isinstance(x, OperatorActed)]
    # the switch waits for the outcome of the trial already on the device (it ran in T1)
    assert [a.action for a in acted] == ["set", "set", "note", "switch"]
    edit, refused, note, switch = acted
    assert edit.detail == {"old": 1.3} and "refused" in refused.detail
    assert note.args == {"text": "whiskers trimmed"}
    first, first_new_step = edit.applies_from, switch.applies_from
    assert first is not None and first_new_step is not None and first_new_step >= first
    assert [r["delay_s"] for r in records] == [1.3] * (first - 1) + [0.5] * (9 - first)
    labels = [r["context_label"] for r in records]
    assert labels == ["T1"] * (first_new_step - 1) + ["T2"] * (9 - first_new_step)
    (switched,) = [x for x in log if isinstance(x, ContextSwitched)]
    assert switched.reason == "operator's call" and switched.to_label == "T2"
    assert switched.trial == first_new_step - 1  # the last trial counted in the old step
    assert switched.trials_in_step == first_new_step - 1


def test_a_live_edit_the_valve_cannot_deliver_is_refused(root: Path) -> None:
    runner, _, inbox, log, _ = _runner(root, trials=3)
    inbox.put(check_command("set", {"path": "reward.volume_ul", "value": 20.0}))
    result = runner.run()
    assert result.trials_completed == 3
    (acted,) = [x for x in log if isinstance(x, OperatorActed)]
    assert "outside the calibrated volumes (0.7-7.1 uL" in acted.detail["refused"]
    with pytest.raises(OperatorError, match="the session has ended"):
        inbox.put(check_command("note", {"text": "late"}))


def test_a_live_edit_past_the_calibrated_volumes_needs_asking_for(root: Path) -> None:
    """Before: 8 uL (past the left valve's highest point, 7.1 uL) was extrapolated without a
    word; now refused, unless the operator first sets reward.beyond_calibration."""
    runner, _, inbox, log, _ = _runner(root, trials=3)
    inbox.put(check_command("set", {"path": "reward.volume_ul", "value": 8.0}))
    inbox.put(check_command("set", {"path": "reward.beyond_calibration", "value": True}))
    inbox.put(check_command("set", {"path": "reward.volume_ul", "value": 8.0}))
    runner.run()
    first, asked, second = [x for x in log if isinstance(x, OperatorActed)]
    assert "outside the calibrated volumes" in first.detail["refused"]
    assert "refused" not in asked.detail and "refused" not in second.detail
    assert runner.planner.protocol.reward.volume_ul == 8.0


def test_abort_after_the_outcome_drops_the_queued_trial(root: Path) -> None:
    from rig.task.builder import DECISIONS

    runner, bus, inbox, log, _ = _runner(root, trials=10)

    def on_events(batch: DeviceEvents) -> None:
        if any(e.trial == 3 and e.kind == "state" and e.name in DECISIONS for e in batch.events):
            inbox.put(check_command("abort", {}))
            inbox.put(check_command("drop", {"side": "left"}))  # refused: no water after abort

    bus.subscribe(DeviceEvents, on_events)
    result = runner.run()
    assert result.aborted and result.trials_completed == 3  # trial 3 was decided: recorded
    assert [(a.trial, a.t) for a in log if isinstance(a, TrialAborted)] == [(4, None)]
    assert not [e for e in _events(log) if e.trial >= 4 or e.trial == MANUAL]
    refused = [a for a in log if isinstance(a, OperatorActed) and a.action == "drop"]
    assert "being aborted" in refused[0].detail["refused"]
    assert result.hand_water_ul == 0


@pytest.mark.realtime
def test_abort_in_real_time_acts_at_once_not_at_the_next_device_event(root: Path) -> None:
    """The simulated rig paced to the wall clock: an abort during the 1.57 s pre-sample
    period ends the trial within a few ms (the runner's poll is interrupted), before the
    pole would drop."""
    import threading

    protocol = load_model(root / "protocols/tactile_T1.yaml", Protocol)
    hardware = load_model(root / "hardware_configs/sim.yaml", HardwareConfig)
    rng = random.Random(3)
    device = simulated_device(
        hardware, new_brain(protocol, hardware, random.Random(1)), rng, realtime=True
    )
    bus, inbox, log = Bus(), Inbox(), []
    bus.subscribe(DeviceEvents, log.append)
    pre_sample = threading.Event()
    bus.subscribe(
        DeviceEvents,
        lambda b: pre_sample.set() if any(e.name == "PreSamplePeriod" for e in b.events) else None,
    )
    runner = SessionRunner(device, TrialPlanner(protocol, hardware, rng), bus, max_trials=5,
                           volume_ul=hardware.delivered_ul, inbox=inbox)  # fmt: skip
    sent: list[float] = []
    thread = threading.Thread(target=runner.run)
    thread.start()
    assert pre_sample.wait(30)
    threading.Event().wait(0.3)  # real time: well inside the 1.57 s pre-sample period
    sent.append(device.wall_s())
    inbox.put(check_command("abort", {}))
    thread.join(30)
    events = [e for b in log for e in b.events]
    end = next(e for e in events if e.kind == "trial_end")
    assert end.trial == 1 and end.host_t is not None
    assert end.host_t - sent[0] < 0.1  # generous: typically under 5 ms
    assert "SamplePeriod" not in [e.name for e in events if e.kind == "state"]
