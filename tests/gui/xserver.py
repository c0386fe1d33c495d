"""Real display servers for the GUI tests: Xvfb (X11) and weston's headless backend
(Wayland), each started on a number the server picks itself; and a screenshot of the
real X screen (``QScreen.grabWindow(0)`` in a process of its own, on the xcb platform)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCREEN = "1600x1000x24"


@contextmanager
def xvfb() -> Iterator[str]:
    """An X server of its own; yields its DISPLAY (":N")."""
    assert shutil.which("Xvfb"), "Xvfb is missing: the Makefile installs it (make system-deps)"
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", SCREEN, "-nolisten", "tcp"],
        pass_fds=(write,), stderr=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(write)
    try:
        with os.fdopen(read) as f:
            number = f.readline().strip()  # written once the server accepts clients
        assert number.isdigit(), "Xvfb did not start"
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(10)


@contextmanager
def weston(runtime_dir: Path) -> Iterator[str]:
    """A headless Wayland compositor; yields its WAYLAND_DISPLAY (a socket in runtime_dir)."""
    assert shutil.which("weston"), "weston is missing: the Makefile installs it"
    runtime_dir.mkdir(mode=0o700, exist_ok=True)
    name = "wayland-rig-test"
    server = subprocess.Popen(
        ["weston", "--backend=headless-backend.so", f"--socket={name}", "--idle-time=0"],
        env={**os.environ, "XDG_RUNTIME_DIR": str(runtime_dir)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not (runtime_dir / name).exists():  # the socket appears once it listens
            assert server.poll() is None and time.monotonic() < deadline, "weston did not start"
            time.sleep(0.05)
        yield name
    finally:
        server.terminate()
        server.wait(10)


GRAB = """
import sys
from PyQt6 import QtWidgets
app = QtWidgets.QApplication(sys.argv[:1])
assert app.platformName() == "xcb", app.platformName()
app.primaryScreen().grabWindow(0).save(sys.argv[1])
"""


def screenshot(display: str, path: Path) -> Path:
    """The whole X screen as it is now, read back from the X server."""
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
    subprocess.run([sys.executable, "-c", GRAB, str(path)], env=env, check=True, timeout=60)
    return path


def top_windows(display: str) -> list[str]:
    """The names of the X server's top-level windows (``xwininfo -root -tree``)."""
    out = subprocess.run(["xwininfo", "-root", "-tree"], env={**os.environ, "DISPLAY": display},
                         capture_output=True, text=True, check=True, timeout=30).stdout  # fmt: skip
    return [line.split('"')[1] for line in out.splitlines() if line.count('"') >= 2]
