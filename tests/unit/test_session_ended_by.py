"""How a session ended, in its status and ``summary.ended_by``: its trials all run and the
operator's stop are a normal end (``completed``); an abort and a terminating signal cut it
short (``aborted``, which ``rig resume`` continues). And the day's water: a second session
of the day starts with the first one's water in its ``SessionStarted`` info."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
from pathlib import Path

import pytest

from rig.bus import Bus, SessionStarted, TrialCompleted
from rig.schema import HardwareConfig, Protocol, load_model
from rig.session.operator import Inbox, check_command
from rig.session.resume import RESUMABLE
from rig.session.session import ENDED_BY, SessionRequest, run_session

ROOT = Path(__file__).resolve().parents[2]
MORNING = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def _request(tmp_path: Path, trials: int, **kw: object) -> SessionRequest:
    protocol = load_model(ROOT / "protocols/tactile_T1.yaml", Protocol)
    hardware = load_model(ROOT / "hardware_configs/sim.yaml", HardwareConfig)
    return SessionRequest(protocol, hardware, "m1", trials, 3, tmp_path, **kw)  # type: ignore[arg-type]


def _run(tmp_path: Path, trials: int, action: str | None, after: int = 3) -> dict[str, object]:
    """A session of ``trials`` at most; ``action`` (a command, or "signal": SIGTERM to this
    process) after trial ``after``; its session.json."""
    inbox = Inbox()

    def observe(bus: Bus) -> None:
        def on_trial(e: TrialCompleted) -> None:
            if e.record["trial"] != after or action is None:
                return
            if action == "signal":
                os.kill(os.getpid(), signal.SIGTERM)  # handled: the session stops
            else:
                inbox.put(check_command(action, {}))

        bus.subscribe(TrialCompleted, on_trial)

    outcome = run_session(_request(tmp_path, trials), observers=[observe], inbox=inbox)
    meta: dict[str, object] = json.loads((outcome.session_dir / "session.json").read_text())
    assert meta["status"] == outcome.status
    return meta


@pytest.mark.parametrize(
    ("action", "ended_by", "status"),
    [(None, "trials", "completed"), ("stop", "operator", "completed"),
     ("abort", "abort", "aborted"), ("signal", "signal", "aborted")],
)  # fmt: skip
def test_how_a_session_ended_is_recorded(
    tmp_path: Path, action: str | None, ended_by: str, status: str
) -> None:
    meta = _run(tmp_path, 8 if action is None else 200, action)
    summary = meta["summary"]
    assert isinstance(summary, dict)
    assert (summary["ended_by"], meta["status"]) == (ended_by, status)
    assert ENDED_BY[ended_by] == status
    assert (status in RESUMABLE) is (action in ("abort", "signal"))  # a stop is not resumed


def test_a_second_session_of_the_day_starts_with_the_first_ones_water(tmp_path: Path) -> None:
    first = run_session(_request(tmp_path, 12, started_at=MORNING))
    water = first.summary["water_ul"] + first.summary["hand_water_ul"]
    assert water > 0
    infos: list[dict[str, object]] = []

    def observe(bus: Bus) -> None:
        bus.subscribe(SessionStarted, lambda e: infos.append(e.info))

    run_session(_request(tmp_path, 3, started_at=MORNING + dt.timedelta(hours=3)), [observe])
    run_session(_request(tmp_path, 3, started_at=MORNING + dt.timedelta(days=1)), [observe])
    assert infos[0]["earlier_water_today_ul"] == pytest.approx(water + 0.0)
    assert infos[1]["earlier_water_today_ul"] == 0.0  # the next day starts from 0
