"""An operator's switch after a resume is recorded at its trial number, in ``session.json``,
``operator.jsonl`` and the registry, so a replay of the files (a second kill's resume, the
next session's position) puts the subject where the live session had it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from rig.bus import Bus, TrialCompleted
from rig.session.history import replay
from rig.session.operator import Inbox, check_command
from rig.session.resume import resume_request
from rig.session.session import run_session
from rig.subjects.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
REASON = "the mouse is ready for T2"


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_switch_after_a_resume_is_recorded_at_its_trial(tmp_path: Path) -> None:
    killed = subprocess.run(
        [sys.executable, "-m", "rig.cli", "run", "--protocol", "protocols/continual_learning.yaml",
         "--subject", "m1", "--trials", "60", "--seed", "4", "--data-dir", str(tmp_path),
         "--fault", "kill-after-events=1500"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert killed.returncode == -9, killed.stderr
    folder = next((tmp_path / "m1").glob("2*"))
    request = resume_request(folder, None, seed=9)
    first = request.resume.first_trial if request.resume else 0
    assert first > 5  # the resumed part is numbered after the first part
    inbox = Inbox()
    when = first + 12

    def observe(bus: Bus) -> None:
        def on_trial(e: TrialCompleted) -> None:
            if e.record["trial"] == when:
                inbox.put(check_command("switch", {"reason": REASON, "to_step": 1}))

        bus.subscribe(TrialCompleted, on_trial)

    outcome = run_session(request, observers=[observe], inbox=inbox)
    assert outcome.status == "completed"
    meta = json.loads((folder / "session.json").read_text())
    records = _lines(folder / "trials.jsonl")
    (acted,) = [x for x in _lines(folder / "operator.jsonl") if x["action"] == "switch"]
    (switch,) = [s for s in meta["context_switches"] if s["reason"] == REASON]
    applies_from = acted["applies_from"]
    assert applies_from > when  # the switch came after trial `when`
    assert switch["after_trial"] == applies_from - 1  # before: counted from 0 after the resume
    assert first <= acted["after_trial"] <= switch["after_trial"]
    in_step = [r for r in records if r["trial"] >= applies_from]
    assert {r["context_label"] for r in in_step} == {"T2"} or in_step == []
    # the files replay to where the live session ended
    position, _ = replay(meta, records)
    assert position.to_json() == meta["end_position"]
    with Registry(tmp_path) as registry:
        registry.index_session(folder)
        (row,) = registry.sessions("m1")
        assert any(s["after_trial"] == applies_from - 1 for s in row["switches"]), row
