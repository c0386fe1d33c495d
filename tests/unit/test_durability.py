"""What is synced to disk, and when: every ``os.fsync``/``os.fdatasync`` is recorded with
the path of its file descriptor (from ``/proc/self/fd``)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rig.control.calibration import save_calibration
from rig.schema import HardwareConfig, Protocol, load_model
from rig.session.session import SessionRequest, run_session

ROOT = Path(__file__).resolve().parents[2]
Synced = list[tuple[str, Path]]


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> Iterator[Synced]:
    """Each sync, in order: ("fsync" or "fdatasync", the path synced)."""
    calls: Synced = []

    def recording(name: str, real: Callable[[int], None]) -> Callable[[int], None]:
        def sync(fd: int) -> None:
            calls.append((name, Path(os.readlink(f"/proc/self/fd/{fd}"))))
            real(fd)

        return sync

    monkeypatch.setattr(os, "fsync", recording("fsync", os.fsync))
    monkeypatch.setattr(os, "fdatasync", recording("fdatasync", os.fdatasync))
    yield calls


def _session(data: Path, fsync_each_trial: bool | None, trials: int = 3) -> Path:
    protocol = load_model(ROOT / "protocols/tactile_T1.yaml", Protocol)
    hardware = load_model(ROOT / "hardware_configs/sim.yaml", HardwareConfig)
    request = SessionRequest(protocol, hardware, "d1", trials, 1, data,
                             fsync_each_trial=fsync_each_trial)  # fmt: skip
    return run_session(request).session_dir


def _first(calls: Synced, test: Callable[[Path], bool]) -> int:
    return next(i for i, (_, path) in enumerate(calls) if test(path))


def test_a_new_session_folder_is_durable_before_anything_is_written_in_it(
    tmp_path: Path, synced: Synced
) -> None:
    data = tmp_path / "data"  # new: the data folder, the subject folder, the session folder
    folder = _session(data, fsync_each_trial=None)
    inside = _first(synced, lambda p: folder in p.parents)
    assert _first(synced, lambda p: p == folder.parent) < inside  # the subject folder
    assert _first(synced, lambda p: p == data) < inside  # the data folder (new subject)
    assert _first(synced, lambda p: p == tmp_path) < inside  # it was new itself
    # the next session of the subject: its subject folder again, the data folder not
    synced.clear()
    second = _session(data, fsync_each_trial=None)
    inside = _first(synced, lambda p: second in p.parents)
    assert _first(synced, lambda p: p == second.parent) < inside
    assert all(path != data for _, path in synced[:inside])


def test_the_plans_are_synced_with_every_trial(tmp_path: Path, synced: Synced) -> None:
    folder = _session(tmp_path, fsync_each_trial=True, trials=4)
    plans = [kind for kind, path in synced if path == folder / "plans.jsonl"]
    assert plans == ["fdatasync"] * 4 + ["fsync"]  # each trial's, then the one at the end
    synced.clear()
    folder = _session(tmp_path, fsync_each_trial=None, trials=4)  # virtual time: at the end
    assert [kind for kind, path in synced if path == folder / "plans.jsonl"] == ["fsync"]


def test_a_calibration_syncs_the_new_file_its_backup_and_their_folder(
    tmp_path: Path, synced: Synced
) -> None:
    path = tmp_path / "rig.yaml"
    shutil.copy(ROOT / "hardware_configs/sim.yaml", path)
    save_calibration(path, "valve_left", [(0.01, 0.8), (0.04, 3.0)], dt.date(2026, 3, 1))
    paths = [p for _, p in synced]
    new = next(i for i, p in enumerate(paths) if p.name in ("rig.yaml", "rig.yaml.tmp"))
    history = tmp_path / "rig.yaml.history"
    (kept,) = history.iterdir()
    backup = paths.index(kept)
    assert paths.index(history) > backup  # the kept file's entry in its folder
    folder = len(paths) - 1 - paths[::-1].index(tmp_path)
    assert folder > max(new, backup)  # the folder after both files: the rename is durable
