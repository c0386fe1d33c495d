"""The controls speak in sentences: what was asked, what the runner did and from which
trial, how the session ended; refusals say "Refused:" and the controller's reason. The
Flush button asks first; "Switch to" offers only the steps the mouse is not in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gui import feedback
from gui.controls import ControlPanel
from rig.bus import (
    ContextSwitched,
    OperatorActed,
    RunnerStatus,
    SessionEnded,
    SessionStarted,
    TrialCompleted,
)
from rig.control.client import ControllerError
from rig.session.operator import check_command
from tests.unit.test_operator import _runner

STEPS = ["T1", "T2", "T1'", "T2'", "A1"]


class FakeClient:
    """Records the commands; refuses the ones listed in ``refuse``."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.refuse: dict[str, str] = {}

    def command(self, action: str, **args: Any) -> dict[str, Any]:
        if action in self.refuse:
            raise ControllerError(self.refuse[action])
        self.sent.append((action, args))
        return {}


def _acted(action: str, args: dict[str, Any], **kw: Any) -> OperatorActed:
    return OperatorActed(action, args, 1.0, kw.pop("after", 15), **kw)


def test_operator_events_read_as_sentences() -> None:
    say = feedback.acted
    switch = _acted("switch", {"reason": "ready", "to_step": 1}, applies_from=16)
    assert say(switch, STEPS) == "switching to T2 from trial 16"
    edit = _acted("set", {"path": "epochs.delay_s", "value": 1.0}, applies_from=20,
                  detail={"old": 1.3})  # fmt: skip
    assert say(edit, STEPS) == "delay 1.0 s (was 1.3 s) from trial 20"
    drop = _acted("drop", {"side": "left"}, detail={"volume_ul": 2.5})
    assert say(drop, STEPS) == "drop left given (2.5 µL)"
    flush = _acted("flush", {"side": "both", "seconds": 2.0}, detail={"volume_ul": 61.2})
    assert say(flush, STEPS) == "flush of both valves for 2 s; 61 µL, counted in the water"
    refused = _acted("drop", {"side": "left"}, detail={"refused": "drop: 10 drops a minute"})
    assert say(refused, STEPS) == "Refused: drop: 10 drops a minute"
    assert say(_acted("pause", {}), STEPS).startswith("pausing after trial 15")
    assert "{" not in say(_acted("note", {"text": "x"}), STEPS)


@pytest.mark.parametrize(
    ("ended_by", "status", "sentence"),
    [
        ("operator", "completed", "stopped by the operator after 23 of 1,000"),
        ("trials", "completed", "completed: 1,000 of 1,000 trials"),
        ("abort", "aborted", "aborted by the operator after 23 of 1,000"),
        ("signal", "aborted", "stopped by a signal to the controller after 23 of 1,000"),
        (None, "aborted", "ended (aborted) after 23 of 1,000"),  # an old session's summary
    ],
)
def test_the_end_says_who_ended_it(ended_by: str | None, status: str, sentence: str) -> None:
    trials = 1000 if ended_by == "trials" else 23
    summary: dict[str, Any] = {"trials": trials}
    if ended_by is not None:
        summary["ended_by"] = ended_by
    assert feedback.ended(SessionEnded(status, summary), 1000) == sentence


def test_the_edit_says_from_which_trial_the_runner_applies_it(root: Path) -> None:
    """The runner's own OperatorActed carries the trial (an edit sent during trial 3 of a
    device one trial ahead applies from trial 5), and the sentence names it."""
    runner, bus, inbox, log, _ = _runner(root, trials=6)

    def on_trial(e: TrialCompleted) -> None:
        if e.record["trial"] == 2:
            inbox.put(check_command("set", {"path": "epochs.delay_s", "value": 1.0}))

    bus.subscribe(TrialCompleted, on_trial)
    runner.run()
    (edit,) = [x for x in log if isinstance(x, OperatorActed)]
    assert edit.applies_from is not None and edit.applies_from > edit.after_trial + 1
    sentence = feedback.acted(edit, STEPS)
    assert sentence.startswith("delay 1.0 s (was ")
    assert sentence.endswith(f" from trial {edit.applies_from}")


def test_the_panel_says_what_happens(qapp: object) -> None:
    client = FakeClient()
    panel = ControlPanel(client)  # type: ignore[arg-type]
    started = SessionStarted("/x", "M042", "p", "T1", {"steps": STEPS, "step": 0, "trials": 1000})
    panel.on_event(started)
    panel.reason.setText("mouse ready")
    panel.switch()
    assert client.sent == [("switch", {"reason": "mouse ready", "to_step": 1})]
    assert "sent" not in panel.feedback.text() and "{" not in panel.feedback.text()
    panel.on_event(_acted("switch", {"reason": "mouse ready", "to_step": 1}, applies_from=16))
    assert panel.feedback.text() == "switching to T2 from trial 16"
    panel.on_event(RunnerStatus("paused", 23))
    assert panel.buttons["pause"].text() == "Resume"
    assert panel.feedback.text() == "paused after 23 trials: nothing runs until Resume"
    client.refuse["drop"] = "drop: the session is being aborted"
    panel.send("drop", side="left")
    assert panel.feedback.text() == "Refused: drop: the session is being aborted"
    panel.on_event(_acted("stop", {}, after=23))
    panel.on_event(RunnerStatus("stopping", 23))  # says less than the Stop's sentence
    assert panel.feedback.text().startswith("stopping after trial 23: ")
    panel.on_event(SessionEnded("completed", {"trials": 23, "ended_by": "operator"}))
    assert panel.feedback.text() == "stopped by the operator after 23 of 1,000"


def test_switch_to_offers_only_the_steps_the_mouse_is_not_in(qapp: object) -> None:
    panel = ControlPanel(FakeClient())  # type: ignore[arg-type]
    panel.on_event(SessionStarted("/x", "M042", "p", "T2", {"steps": STEPS, "step": 1}))
    offered = [panel.step.itemData(i) for i in range(panel.step.count())]
    assert offered == [0, 2, 3, 4] and panel.step.currentData() == 2  # the next selected
    # the curriculum moves on by itself: the list follows
    panel.on_event(ContextSwitched(120, "T2", "T1'", 120, "criterion", 1, 2))
    offered = [panel.step.itemData(i) for i in range(panel.step.count())]
    assert offered == [0, 1, 3, 4] and panel.step.currentData() == 3
    panel.set_steps(["T1"], 0)  # a one-step curriculum: nothing to switch to
    assert panel.step.count() == 0 and not panel.buttons["switch"].isEnabled()


def test_flush_asks_how_long_which_valves_and_that_the_water_counts(qapp: object) -> None:
    client = FakeClient()
    panel = ControlPanel(client)  # type: ignore[arg-type]
    asked: list[str] = []
    panel.ask = lambda title, text: asked.append(text) or False  # type: ignore[method-assign]
    panel.flush()
    assert client.sent == []  # "No": nothing opened
    (question,) = asked
    assert "both valves" in question and "2 s" in question and "counted" in question
    panel.ask = lambda title, text: True  # type: ignore[method-assign]
    panel.flush()
    assert client.sent == [("flush", {"side": "both", "seconds": 2.0})]
