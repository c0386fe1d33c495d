"""A session folder is written by one process: the session lock (``session.lock``).

A session holds the lock of its folder for its whole life; ``rig resume`` (and anything
else that writes into the folder) is refused while a live process holds it, with who
holds it; a process killed with SIGKILL leaves it free (the kernel drops the lock)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from rig.session.lock import LOCK_FILE, SessionHeld, SessionLock, holder
from rig.session.recorder import annotate_session
from rig.session.today import suggest

ROOT = Path(__file__).resolve().parents[2]
RIG = [sys.executable, "-m", "rig.cli"]
HOLD = (
    "import sys; from pathlib import Path; from rig.session.lock import SessionLock; "
    "lock = SessionLock.acquire(Path(sys.argv[1])); print('held', flush=True); sys.stdin.read()"
)


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _hold(folder: Path) -> subprocess.Popen[str]:
    """A child process that holds ``folder``'s lock until it is killed."""
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], cwd=ROOT, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
    assert child.stdout is not None and child.stdout.readline() == "held\n"
    return child


def _kill(child: subprocess.Popen[str]) -> None:
    child.send_signal(signal.SIGKILL)
    child.wait(30)


def _wait_for(predicate: Any, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_lock_names_its_holder_and_a_killed_holder_frees_it(tmp_path: Path) -> None:
    child = _hold(tmp_path)
    try:
        found = holder(tmp_path)
        assert found is not None
        assert (found.pid, found.host) == (child.pid, socket.gethostname())
        with pytest.raises(SessionHeld) as refused:
            SessionLock.acquire(tmp_path)
        message = str(refused.value)
        assert f"{tmp_path}: still being written by pid {child.pid} on {found.host}" in message
        assert f"since {found.since}" in message
    finally:
        _kill(child)
    assert holder(tmp_path) is None  # the kernel dropped the lock; the file stays
    assert (tmp_path / LOCK_FILE).exists()
    with SessionLock.acquire(tmp_path):
        assert holder(tmp_path) is not None  # held by this process now
        with pytest.raises(SessionHeld):  # one holder, even in one process
            SessionLock.acquire(tmp_path)
    assert holder(tmp_path) is None


def test_a_session_running_in_another_process_cannot_be_resumed(tmp_path: Path) -> None:
    """``rig run --realtime`` is running; ``rig resume`` on its folder is refused, names the
    process and changes nothing; once that process is killed the resume goes ahead."""
    running = subprocess.Popen(
        [*RIG, "run", "--protocol", "protocols/tactile_T1.yaml", "--subject", "L1",
         "--trials", "50", "--seed", "1", "--data-dir", str(tmp_path), "--realtime"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for(lambda: any((tmp_path / "L1").glob("2*/events.jsonl")))
        folder = next((tmp_path / "L1").glob("2*"))
        _wait_for(lambda: (folder / "events.jsonl").stat().st_size > 0)
        refused = subprocess.run([*RIG, "resume", str(folder)], cwd=ROOT, capture_output=True,
                                 text=True, timeout=120)  # fmt: skip
        assert refused.returncode == 1
        err, host = refused.stderr, socket.gethostname()
        assert f"{folder}: still being written by pid {running.pid} on {host}" in err
        assert "rig.cli run" in err or "rig run" in err  # the holder's command
        assert "resumes" not in json.loads((folder / "session.json").read_text())
        # the session's controller would be refused the same way (the launcher's resume)
        from rig.control.requests import resume_in

        with pytest.raises(ValueError, match=f"pid {running.pid}"):
            resume_in(tmp_path, str(folder), seed=1, speed=1.0)
        with pytest.raises(ValueError, match="still being written"):  # no annotation either
            annotate_session(folder, {"notes": "x"})
    finally:
        running.send_signal(signal.SIGKILL)
        running.wait(30)
    resumed = subprocess.run([*RIG, "resume", str(folder), "--trials", "2", "--seed", "3"],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    meta = json.loads((folder / "session.json").read_text())
    assert meta["status"] == "completed" and len(meta["resumes"]) == 1
    numbers = [r["trial"] for r in _lines(folder / "trials.jsonl")]
    assert numbers == sorted(set(numbers))  # nothing written twice
    assert holder(folder) is None


def test_the_launcher_s_suggestion_says_a_session_is_held(root: Path, tmp_path: Path) -> None:
    folder = tmp_path / "M1" / "20260101-090000"
    folder.mkdir(parents=True)
    (folder / "session.json").write_text(
        json.dumps({"status": "running", "start_time": "2026-01-01T09:00:00+00:00"})
    )
    assert suggest(tmp_path, "M1", root / "protocols").last_session["held_by"] is None  # type: ignore[index]
    child = _hold(folder)
    try:
        last = suggest(tmp_path, "M1", root / "protocols").last_session
        assert last is not None
        assert last["held_by"]["pid"] == child.pid
        assert last["held_by"]["host"] == socket.gethostname()
    finally:
        _kill(child)


def test_align_and_export_do_not_write_into_a_running_session(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rig.cli import main

    folder = tmp_path / "m1" / "20261207-120000"
    folder.mkdir(parents=True)
    child = _hold(folder)
    try:
        assert main(["align", str(folder), str(tmp_path)]) == 1
        assert "still being written by pid" in capsys.readouterr().err
        assert main(["export-nwb", str(folder), "--no-validate"]) == 1
        assert "still being written by pid" in capsys.readouterr().out
        assert not list(folder.glob("*.nwb")) and not (folder / "trial_frames.csv").exists()
    finally:
        _kill(child)
