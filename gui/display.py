"""Can Qt open a window here? One line that says why not, before Qt aborts the process.

Qt's platform plugin (``xcb`` for X11, ``wayland``) is a shared library; when one of its
system libraries is missing, Qt prints a paragraph and aborts (exit 134), and with no
server to talk to it aborts the same way. :func:`display_problem` checks first, with the
system's own loader (``ldd`` on the plugin) and Xlib's ``XOpenDisplay``, and names the
missing library and the Debian/Ubuntu package that has it. No Qt widget is made here.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess
from pathlib import Path

# the libraries the PyQt6 wheels' xcb and wayland plugins load, by their Debian package
# (Debian 12, Ubuntu 22.04 and 24.04 use the same names); the Makefile installs them all
PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}
PLUGIN_FILES = {"xcb": "libqxcb.so", "wayland": "libqwayland.so"}
NO_SCREEN_HINT = "without a screen, run a headless session instead: make run (or rig run)"


def platform_wanted(env: dict[str, str]) -> str:
    """The platform Qt will try first: QT_QPA_PLATFORM, else wayland on a Wayland session,
    else xcb."""
    asked = env.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if asked:
        return asked
    if env.get("WAYLAND_DISPLAY") and env.get("XDG_SESSION_TYPE") == "wayland":
        return "wayland"
    return "xcb"


def missing_libraries(library: Path) -> list[str]:
    """The shared libraries ``library`` needs that the system's loader cannot find."""
    out = subprocess.run(["ldd", str(library)], capture_output=True, text=True, check=False)
    return [line.split("=>")[0].strip() for line in out.stdout.splitlines() if "not found" in line]


def install_hint(names: list[str]) -> str:
    packages = [PACKAGES.get(n, "") for n in names]
    if all(packages):
        return "sudo apt-get install " + " ".join(dict.fromkeys(packages))
    return "apt-file search " + names[0] + " names the package; or, as root: make system-deps"


def _can_open_x(display: str) -> bool:
    found = ctypes.util.find_library("X11")
    if found is None:
        return True  # ldd on the plugin has said so already
    xlib = ctypes.CDLL(found)
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    handle = xlib.XOpenDisplay(display.encode())
    if not handle:
        return False
    xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    xlib.XCloseDisplay(handle)
    return True


def display_problem(plugins: Path, env: dict[str, str] | None = None) -> str | None:
    """Why Qt cannot open a window here (one line), or ``None`` when it can.

    ``plugins``: Qt's plugin folder (``QLibraryInfo.path(PluginsPath)``)."""
    env = dict(os.environ) if env is None else env
    platform = platform_wanted(env)
    if platform not in PLUGIN_FILES:
        return None  # offscreen, vnc, eglfs ...: nothing to check here
    if platform == "xcb" and not env.get("DISPLAY"):
        return f"no display: DISPLAY is not set (no X server here); {NO_SCREEN_HINT}"
    if platform == "wayland" and not env.get("WAYLAND_DISPLAY"):
        return f"no display: WAYLAND_DISPLAY is not set; {NO_SCREEN_HINT}"
    plugin = plugins / "platforms" / PLUGIN_FILES[platform]
    missing = missing_libraries(plugin) if plugin.exists() else []
    if missing:
        return (
            f"Qt's {platform} platform cannot load: {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing; install: {install_hint(missing)}"
        )
    if platform == "xcb" and not _can_open_x(env["DISPLAY"]):
        return (
            f"cannot open the display {env['DISPLAY']!r}: no X server answers there "
            f"(is it running, and may this user use it? see XAUTHORITY); {NO_SCREEN_HINT}"
        )
    return None
