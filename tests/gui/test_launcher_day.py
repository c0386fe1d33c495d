"""The launcher as a technician meets it each morning: no subject preselected and nothing
carried over from the last mouse; a weight taken as typed (250 refused, never 25.0) and
checked against the last weighing and the baseline; a second session of the day asked
about, with the first one shown; the day card with the rule's progress, how the mouse got
there, yesterday's end weight and water, and the suggestion kept while overriding.

The controller's requests are answered in this process by a real :class:`Controller`'s
``handle`` (no sockets, no session thread): ``start`` is recorded, not run."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest
from PyQt6 import QtCore
from pytestqt.qtbot import QtBot

from gui.launcher import Launcher
from gui.widgets import MAX_WEIGHT_G, MIN_WEIGHT_G
from rig.control.client import ControllerError
from rig.control.server import Controller
from rig.schema import HardwareConfig, Protocol, load_model
from rig.session.recorder import annotate_session
from rig.session.session import SessionRequest, run_session

TODAY = dt.datetime.now().astimezone().replace(hour=0, minute=1, second=0, microsecond=0)
YESTERDAY = TODAY - dt.timedelta(days=1)


class DirectClient:
    """The controller's answers without its sockets; ``start`` requests are kept."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self.started: list[dict[str, Any]] = []

    def request(self, cmd: str, **args: Any) -> dict[str, Any]:
        if cmd == "start":
            self.started.append(args)
            return {"seed": 1}
        try:
            return self.controller.handle(cmd, args)
        except ValueError as exc:
            raise ControllerError(str(exc)) from None


@pytest.fixture
def rig_dir(root: Path, tmp_path: Path) -> Path:
    shutil.copy(root / "hardware_configs/sim.yaml", tmp_path / "sim.yaml")
    (tmp_path / "data").mkdir()
    return tmp_path


def _launcher(qtbot: QtBot, root: Path, rig_dir: Path) -> tuple[Launcher, DirectClient]:
    controller = Controller(rig_dir / "sim.yaml", "ipc://unused", data_dir=rig_dir / "data",
                            protocols_dir=root / "protocols")  # fmt: skip
    client = DirectClient(controller)
    launcher = Launcher(client)  # type: ignore[arg-type]
    qtbot.addWidget(launcher)
    launcher.load()
    return launcher, client


def _session(root: Path, rig_dir: Path, subject: str, when: dt.datetime, **kw: Any) -> Path:
    """A real session of ``subject`` on the simulated rig (virtual time), started ``when``."""
    protocol = root / "protocols/continual_learning.yaml"
    request = SessionRequest(
        load_model(protocol, Protocol), load_model(rig_dir / "sim.yaml", HardwareConfig),
        subject, kw.pop("trials", 20), 1, rig_dir / "data", protocol_path=str(protocol),
        started_at=when, **kw,
    )  # fmt: skip
    return run_session(request).session_dir


def _fill(launcher: Launcher, qtbot: QtBot, weight: str) -> None:
    launcher.operator.setText("tech")
    launcher.weight.clear()
    qtbot.keyClicks(launcher.weight, weight)


def test_no_subject_is_preselected_and_nothing_carries_over(
    qtbot: QtBot, root: Path, rig_dir: Path
) -> None:
    launcher, _ = _launcher(qtbot, root, rig_dir)
    assert launcher.subject.count() == 0
    assert launcher.protocol.currentText() == "continual_learning.yaml"  # not auditory_A1
    _session(root, rig_dir, "M1", YESTERDAY)
    _session(root, rig_dir, "M2", YESTERDAY)
    launcher.load()
    assert launcher.subject.count() == 2
    assert launcher.subject.currentIndex() == -1 and launcher.subject.currentText() == ""
    assert not launcher.start.isEnabled() and "pick or create a subject" in launcher.problem.text()
    launcher.subject.setCurrentText("M2")
    _fill(launcher, qtbot, "22.5")
    launcher.fov.setText("FOV2")
    assert launcher.start.isEnabled()
    launcher.load()  # what the main window does for the next session
    assert launcher.subject.currentText() == ""
    assert (launcher.operator.text(), launcher.weight.text(), launcher.fov.text()) == ("", "", "")
    assert not launcher.start.isEnabled()


def test_a_new_subject_starts_on_the_curriculums_first_protocol(
    qtbot: QtBot, root: Path, rig_dir: Path
) -> None:
    launcher, _ = _launcher(qtbot, root, rig_dir)
    launcher.new_subject.setText("M9")
    qtbot.mouseClick(launcher.findChild(type(launcher.start), "launcher_create"),
                     QtCore.Qt.MouseButton.LeftButton)  # fmt: skip
    assert launcher.subject.currentText() == "M9"
    assert launcher.protocol.currentText() == "continual_learning.yaml"
    assert launcher.step.currentText().startswith("1: T1 (suggested) - tactile context 1")
    card = launcher.today.text()
    assert "Suggested: continual_learning.yaml, step 1 of 5: T1" in card
    assert "Last session: none yet" in card and "no session of this protocol yet" in card
    assert launcher.weight_info.text() == "no weight on record yet"


def test_the_weight_is_taken_as_typed_and_a_mistyped_one_refused(
    qtbot: QtBot, root: Path, rig_dir: Path
) -> None:
    _session(root, rig_dir, "M1", YESTERDAY, weight_g=21.0)
    launcher, client = _launcher(qtbot, root, rig_dir)
    launcher.subject.setCurrentText("M1")
    for typed in ("250", "215", "5"):
        _fill(launcher, qtbot, typed)
        assert launcher.weight.text() == typed and launcher.weight.value() is None  # not 25.0
        assert f"{MIN_WEIGHT_G:g}-{MAX_WEIGHT_G:g} g" in launcher.problem.text()
        assert not launcher.start.isEnabled()
    _fill(launcher, qtbot, "21.5")
    assert launcher.weight.value() == 21.5 and launcher.start.isEnabled()
    launcher.ask = lambda title, text: pytest.fail(f"asked: {text}")  # type: ignore[method-assign]
    qtbot.mouseClick(launcher.start, QtCore.Qt.MouseButton.LeftButton)
    assert client.started[0]["weight_g"] == 21.5 and "notes" not in client.started[0]


def test_a_weight_far_below_the_last_asks_before_starting(
    qtbot: QtBot, root: Path, rig_dir: Path
) -> None:
    folder = _session(root, rig_dir, "M1", YESTERDAY - dt.timedelta(days=5), weight_g=25.0)
    _session(root, rig_dir, "M1", YESTERDAY, weight_g=23.4)
    launcher, client = _launcher(qtbot, root, rig_dir)
    launcher.subject.setCurrentText("M1")
    assert launcher.weight_info.text().startswith("last 23.4 g (before the session of")
    assert f"baseline 25 g ({folder.name[:4]}-" in launcher.weight_info.text()
    asked: list[str] = []
    answer = False

    def ask(title: str, text: str) -> bool:
        asked.append(text)
        return answer

    launcher.ask = ask  # type: ignore[method-assign]
    _fill(launcher, qtbot, "18.0")  # the issue's -23 %, taken without a word
    qtbot.mouseClick(launcher.start, QtCore.Qt.MouseButton.LeftButton)
    assert "23 % below the last weighing (23.4 g" in asked[0]
    assert "72 % of the baseline (25 g" in asked[0]
    assert client.started == [] and launcher.problem.text().startswith("not started:")
    answer = True
    qtbot.mouseClick(launcher.start, QtCore.Qt.MouseButton.LeftButton)
    assert len(asked) == 2 and client.started[0]["weight_g"] == 18.0
    assert "started anyway: weight 18 g is 23 % below" in client.started[0]["notes"]


def test_a_second_session_of_the_day_asks_and_shows_the_first(
    qtbot: QtBot, root: Path, rig_dir: Path
) -> None:
    first = _session(root, rig_dir, "M1", TODAY, weight_g=22.0, trials=30)
    launcher, client = _launcher(qtbot, root, rig_dir)
    launcher.subject.setCurrentText("M1")
    water = launcher.suggested["earlier_water_today_ul"] if launcher.suggested else 0
    assert water > 0
    card = launcher.today.text()
    assert f"Today already (1): 00:01 30 trials, {water:.0f} uL (completed)" in card
    assert f"water so far {water:.0f} of 1000 uL" in card
    asked: list[str] = []
    launcher.ask = lambda title, text: asked.append(text) or True  # type: ignore[method-assign]
    _fill(launcher, qtbot, "22.1")
    qtbot.mouseClick(launcher.start, QtCore.Qt.MouseButton.LeftButton)
    (text,) = asked
    assert "M1 already had 1 session(s) today: 00:01 30 trials" in text
    assert client.started and first.name  # asked, then started


def test_the_day_card_says_why_and_stays_while_overriding(
    qtbot: QtBot, root: Path, rig_dir: Path
) -> None:
    folder = _session(root, rig_dir, "M1", YESTERDAY, weight_g=23.4, trials=40)
    annotate_session(folder, {"weight_g": 24.1, "notes": ""})
    launcher, _ = _launcher(qtbot, root, rig_dir)
    launcher.subject.setCurrentText("M1")
    card = launcher.today.text()
    assert "Suggested: continual_learning.yaml, step 1 of 5: T1 (context T1)" in card
    assert "Rule: it moves on at 75 % correct over 100 responded trials; now " in card
    assert "How it got there: at this step since its first session of this protocol" in card
    assert "end weight 24.1 g; water " in card and "(completed, its trials all run)" in card
    assert launcher.weight_info.text().startswith("last 24.1 g (after the session of")
    items = [launcher.step.itemText(i) for i in range(launcher.step.count())]
    assert items[0].startswith("1: T1 (suggested) - tactile context 1; to 75 % correct")
    assert items[1].startswith("2: T2 - tactile context 2, the reversal of T1")
    launcher.step.setCurrentIndex(1)  # override: the suggestion stays on the card
    card = launcher.today.text()
    assert card.startswith("Suggested: continual_learning.yaml, step 1 of 5: T1")
    assert "Your choice instead: continual_learning.yaml, step 2: T2" in card
    launcher.protocol.setCurrentText("shaping.yaml")
    card = launcher.today.text()
    assert card.startswith("Suggested: continual_learning.yaml, step 1 of 5: T1")
    assert "Your choice instead: shaping.yaml, step 1: T1" in card
    assert "(suggested)" not in launcher.step.itemText(0)  # not the subject's protocol
