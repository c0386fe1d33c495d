"""The GUI on real display servers, as a technician's machine has them: ``make run`` with a
display opens the ``rig`` window on a real X server (Xvfb, Qt's default xcb platform) and
the screen read back from the server is not blank; on Wayland (weston, headless) too; with
no display ``rig gui`` says why in one line instead of Qt's abort."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from PyQt6 import QtGui

from gui.display import display_problem, install_hint, missing_libraries
from rig.control.owner import running_controller
from tests.gui.xserver import screenshot, top_windows, weston, xvfb

pytestmark = [pytest.mark.realtime]


def _rig_copy(root: Path, tmp: Path) -> Path:
    """sim.yaml with a controller endpoint of its own (another may be running here)."""
    config = yaml.safe_load((root / "hardware_configs" / "sim.yaml").read_text())
    config["controller_endpoint"] = f"ipc://{tempfile.mkdtemp(prefix='rig-test-')}/ctl"
    path = tmp / "sim.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "WAYLAND", "DISPLAY"))}
    return {**env, **extra}


def _wait_for_ready(process: subprocess.Popen[str]) -> list[str]:
    assert process.stdout is not None
    lines = []
    while not (lines and lines[-1].startswith("rig gui: ready")):
        line = process.stdout.readline()
        assert line, f"rig gui ended first: {lines}"
        lines.append(line)
    return lines


def _stop(process: subprocess.Popen[str]) -> None:
    os.killpg(process.pid, signal.SIGTERM)  # make and rig gui: as a Ctrl-C would
    process.wait(60)


def _not_blank(png: Path) -> tuple[float, int]:
    image = QtGui.QImage(str(png))
    assert not image.isNull()
    small = image.scaled(400, 250)  # a sample of the screen, every pixel of it
    background = small.pixel(0, 0)
    colours = {small.pixel(x, y) for x in range(small.width()) for y in range(small.height())}
    drawn = sum(
        small.pixel(x, y) != background for x in range(small.width()) for y in range(small.height())
    )
    return drawn / (small.width() * small.height()), len(colours)


def test_make_run_opens_the_rig_window_on_a_real_x_server(root: Path, tmp_path: Path) -> None:
    rig, data = _rig_copy(root, tmp_path), tmp_path / "data"
    with xvfb() as display:
        run = subprocess.Popen(
            ["make", "-s", "-C", str(root), "run", f"GUI_ARGS=--rig {rig} --data-dir {data}"],
            env=_env(DISPLAY=display), stdout=subprocess.PIPE, text=True,
            start_new_session=True,
        )  # fmt: skip
        try:
            _wait_for_ready(run)
            deadline = time.monotonic() + 30
            while "rig" not in top_windows(display):  # mapped by the window manager-less X
                assert time.monotonic() < deadline, top_windows(display)
                time.sleep(0.1)
            shot = screenshot(display, tmp_path / "screen.png")
            drawn, colours = _not_blank(shot)
            assert drawn > 0.2 and colours > 20, (drawn, colours)
        finally:
            _stop(run)
        deadline = time.monotonic() + 30
        while running_controller(data, "sim") is not None:  # the one it started went with it
            assert time.monotonic() < deadline, "the controller outlived its window"
            time.sleep(0.1)


def test_rig_gui_on_wayland(root: Path, tmp_path: Path) -> None:
    rig, data = _rig_copy(root, tmp_path), tmp_path / "data"
    runtime = Path(tempfile.mkdtemp(prefix="rig-xdg-"))
    with weston(runtime) as wayland:
        gui = subprocess.Popen(
            [sys.executable, "-m", "rig.cli", "gui", "--rig", str(rig), "--data-dir", str(data),
             "--protocols", str(root / "protocols")],
            env=_env(WAYLAND_DISPLAY=wayland, XDG_RUNTIME_DIR=str(runtime),
                     XDG_SESSION_TYPE="wayland"),
            stdout=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        try:
            _wait_for_ready(gui)
        finally:
            _stop(gui)
        assert gui.returncode == 0


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({}, "no display: DISPLAY is not set"),
        ({"DISPLAY": ":97"}, "cannot open the display ':97': no X server answers there"),
    ],
)
def test_without_a_display_rig_gui_says_why_in_one_line(
    root: Path, tmp_path: Path, env: dict[str, str], said: str
) -> None:
    assert not Path("/tmp/.X11-unix/X97").exists()
    gui = subprocess.run(
        [sys.executable, "-m", "rig.cli", "gui", "--rig", str(_rig_copy(root, tmp_path)),
         "--data-dir", str(tmp_path / "data")],
        env=_env(**env), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert gui.returncode == 1  # not Qt's abort (134)
    assert gui.stderr.count("\n") == 1 and said in gui.stderr, gui.stderr
    assert "make run (or rig run)" in gui.stderr
    assert running_controller(tmp_path / "data", "sim") is None  # nothing was started


def test_a_missing_library_is_named_with_its_package(tmp_path: Path) -> None:
    """A platform plugin linked against a library the loader cannot find, built with the
    system's compiler: the loader's own answer names it."""
    gone = tmp_path / "libxcb-gone.so.4"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(gone), "-Wl,-soname,libxcb-gone.so.4",
                    "-x", "c", "/dev/null"], check=True)  # fmt: skip
    platforms = tmp_path / "plugins" / "platforms"
    platforms.mkdir(parents=True)
    plugin = platforms / "libqxcb.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(plugin), "-Wl,--no-as-needed",
                    str(gone), "-x", "c", "/dev/null"], check=True)  # fmt: skip
    gone.unlink()
    assert missing_libraries(plugin) == ["libxcb-gone.so.4"]
    problem = display_problem(tmp_path / "plugins", {"DISPLAY": ":0"})
    assert problem is not None
    assert problem.startswith("Qt's xcb platform cannot load: libxcb-gone.so.4 is missing")
    assert install_hint(["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]) == (
        "sudo apt-get install libxcb-icccm4 libxcb-keysyms1"
    )
