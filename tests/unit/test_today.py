"""The launcher's suggestion: protocol, curriculum step and what changed since last time."""

from __future__ import annotations

import shutil
from pathlib import Path

from rig.schema import HardwareConfig, Protocol, load_model
from rig.session.session import SessionRequest, run_session
from rig.session.today import differences, subjects, suggest


def test_a_new_subject_starts_at_the_first_step(root: Path, tmp_path: Path) -> None:
    (tmp_path / "M1").mkdir()
    (tmp_path / "not a subject").mkdir()
    (tmp_path / "reports").mkdir()  # rig report's folder
    assert subjects(tmp_path) == ["M1"]
    s = suggest(tmp_path, "M1", root / "protocols")
    assert (s.protocol_file, s.step, s.label, s.last_session) == (
        "continual_learning.yaml",
        0,
        "T1",
        None,
    )
    assert s.steps == ["T1", "T2", "T1'", "T2'", "A1"]


def test_the_next_day_continues_where_the_last_session_ended(root: Path, tmp_path: Path) -> None:
    protocols = tmp_path / "protocols"
    shutil.copytree(root / "protocols", protocols)
    protocol = load_model(protocols / "tactile_T1.yaml", Protocol)
    hardware = load_model(root / "hardware_configs/sim.yaml", HardwareConfig)
    data = tmp_path / "data"
    run_session(SessionRequest(protocol, hardware, "M2", 30, 1, data,
                               protocol_path=str(protocols / "tactile_T1.yaml")))  # fmt: skip
    s = suggest(data, "M2", protocols)
    assert s.protocol_file == "tactile_T1.yaml"  # the subject's own protocol, not the default
    assert s.last_session is not None and s.last_session["trials"] == 30
    assert s.differences == []
    # the protocol file changed since: the launcher lists what differs
    text = (protocols / "tactile_T1.yaml").read_text()
    changed = text.replace("reward:\n  volume_ul: 2.5", "reward:\n  volume_ul: 3.0")
    assert changed != text
    (protocols / "tactile_T1.yaml").write_text(changed)
    s = suggest(data, "M2", protocols)
    assert ("reward.volume_ul", 2.5, 3.0) in s.differences


def test_differences_cover_added_and_removed_keys() -> None:
    old = {"a": {"b": 1, "c": [1, 2]}, "gone": True}
    new = {"a": {"b": 2, "c": [1, 2]}, "new": "x"}
    assert differences(old, new) == [("a.b", 1, 2), ("gone", True, None), ("new", None, "x")]
