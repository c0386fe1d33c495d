"""The names the data folder itself uses cannot be subject IDs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rig.session.history import RESERVED_NAMES, check_subject_id
from rig.subjects.registry import DB_NAME, Registry, RegistryError

ROOT = Path(__file__).resolve().parents[2]
USED = [
    "reports",
    "registry.sqlite",
    "registry.sqlite-journal",
    "registry.sqlite-wal",
    "registry.sqlite-shm",
]


def test_every_name_the_data_folder_uses_is_in_the_list() -> None:
    assert set(USED) <= set(RESERVED_NAMES)
    assert DB_NAME in RESERVED_NAMES


@pytest.mark.parametrize("name", [*USED, "Registry.sqlite-Journal", "REPORTS"])
def test_a_reserved_name_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="the data folder uses this name"):
        check_subject_id(name)


@pytest.mark.parametrize("name", ["registry.sqlite-journal", "registry.sqlite-wal"])
def test_rig_run_refuses_it_before_anything_is_written(name: str, tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "rig.cli", "run", "--protocol", "protocols/tactile_T1.yaml",
         "--subject", name, "--trials", "1", "--data-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 1
    assert "the data folder uses this name" in run.stderr
    assert list(tmp_path.iterdir()) == []
    with Registry(tmp_path) as registry:
        with pytest.raises(RegistryError):
            registry.add_subject(name)
        assert registry.subjects() == []  # the registry still works


def test_names_near_the_reserved_ones_are_subjects() -> None:
    for name in ("registry", "registry.sqlite2", "reports-2", "m-journal"):
        assert check_subject_id(name) == name
