"""Processes that share a data folder: atomic session folders with unique names and
unique temporary files (the registry: tests/unit/test_registry_concurrency.py)."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from rig.session import recorder
from rig.session.recorder import write_json_atomic
from rig.session.session import new_session_dir

NOW = dt.datetime(2026, 3, 1, 9, 30, 0)
OPENERS = 12


def _new_dir(args: tuple[str, Any]) -> str:
    subject_dir, barrier = args
    barrier.wait()
    return new_session_dir(Path(subject_dir), NOW).name


def test_session_folders_are_created_atomically_with_unique_names(tmp_path: Path) -> None:
    first = new_session_dir(tmp_path / "m1", NOW)
    assert first.is_dir() and first.name == "20260301-093000"  # created, with its parents
    assert new_session_dir(tmp_path / "m1", NOW).name == "20260301-093000-002"
    # a folder that appears between the check and the creation does not break it
    taken = tmp_path / "m1" / "20260301-093000-003"
    real_mkdir = Path.mkdir

    def racing_mkdir(self: Path, *args: Any, **kwargs: Any) -> None:
        if self == taken and not taken.exists():
            real_mkdir(taken)  # another process got there first
        real_mkdir(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Path, "mkdir", racing_mkdir)
        assert new_session_dir(tmp_path / "m1", NOW).name == "20260301-093000-004"


def test_parallel_processes_get_distinct_session_folders(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Manager().Barrier(OPENERS)
    with ctx.Pool(OPENERS) as pool:
        names = pool.map(_new_dir, [(str(tmp_path / "twin"), barrier)] * OPENERS)
    assert len(set(names)) == OPENERS
    assert sorted(p.name for p in (tmp_path / "twin").iterdir()) == sorted(names)


def test_atomic_writes_use_their_own_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "sim_mouse.json"
    fixed = target.with_name(target.name + ".tmp")
    fixed.mkdir()  # the old fixed temporary name is taken (by another writer, say)
    write_json_atomic(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sim_mouse.json", "sim_mouse.json.tmp"]
    # a failed write leaves neither a temporary file nor a changed target
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(recorder.os, "fsync", _failing_fsync)
        with pytest.raises(OSError):
            write_json_atomic(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sim_mouse.json", "sim_mouse.json.tmp"]


def _failing_fsync(fd: int) -> None:
    raise OSError(5, "Input/output error")
