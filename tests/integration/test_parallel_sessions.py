"""Sessions of one subject at once, in one data folder: each gets its own folder, each
ends, and each is indexed (no 'File exists', no shared temporary file, no migration run
twice)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rig.subjects.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
PARALLEL = 16


def test_sixteen_sessions_of_one_subject_at_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    command = [sys.executable, "-m", "rig.cli", "run", "--protocol", "protocols/tactile_T1.yaml",
               "--subject", "twin", "--trials", "3", "--data-dir", str(data), "--seed"]  # fmt: skip
    runs = [
        subprocess.Popen(
            [*command, str(seed)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in range(PARALLEL)
    ]
    results = [(run.wait(300), *run.communicate()) for run in runs]
    assert [(code, err) for code, _, err in results if code != 0] == []
    folders = sorted(p for p in (data / "twin").iterdir() if p.is_dir())
    assert len(folders) == PARALLEL
    metas = [json.loads((f / "session.json").read_text()) for f in folders]
    assert {m["status"] for m in metas} == {"completed"}
    assert sorted(m["seed"] for m in metas) == list(range(PARALLEL))
    assert sorted(p.name for p in (data / "twin").iterdir() if not p.is_dir()) == [
        "sim_mouse.json"  # no temporary file left behind
    ]
    with Registry(data) as registry:
        assert sorted(s["path"] for s in registry.sessions("twin")) == [
            str(f.resolve()) for f in folders
        ]
