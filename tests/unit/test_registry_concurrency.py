"""Processes that open one registry at once: an old schema is migrated once, under the
database's write lock, and every opener waits for it instead of failing."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from rig.subjects.registry import DB_NAME, MIGRATIONS, Registry

OPENERS = 12


def _open_registry(args: tuple[str, Any]) -> str:
    data_dir, barrier = args
    barrier.wait()
    try:
        with Registry(Path(data_dir)) as registry:
            return str(registry.schema_version)
    except Exception as exc:  # the test reports what each opener saw
        return f"{type(exc).__name__}: {exc}"


def _old_database(data_dir: Path, version: int) -> None:
    old = sqlite3.connect(data_dir / DB_NAME)
    for script in MIGRATIONS[:version]:
        old.executescript(script)
    old.execute(f"PRAGMA user_version = {version}")
    old.execute("INSERT INTO subjects (id, genotype) VALUES ('m1', 'Ai93')")
    old.commit()
    old.close()


@pytest.mark.parametrize("version", [0, 1, 2])
def test_parallel_openers_migrate_an_old_registry_once(tmp_path: Path, version: int) -> None:
    if version:
        _old_database(tmp_path, version)
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Manager().Barrier(OPENERS)
    with ctx.Pool(OPENERS) as pool:
        seen = pool.map(_open_registry, [(str(tmp_path), barrier)] * OPENERS)
    assert seen == [str(len(MIGRATIONS))] * OPENERS
    with Registry(tmp_path) as registry:
        columns = [r[1] for r in registry.db.execute("PRAGMA table_info(sessions)")]
        assert columns.count("fov") == 1
        if version:
            assert registry.subject("m1") is not None
            assert registry.subject("m1")["genotype"] == "Ai93"  # type: ignore[index]
    assert not os.path.exists(tmp_path / (DB_NAME + "-journal"))
