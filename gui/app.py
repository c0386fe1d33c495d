"""``rig gui``: attach to the rig's controller (starting it if none runs), then the window.

The controller is its own process (``rig serve``): the GUI can freeze, crash or close
without a trial noticing. Each rig has one, at the endpoint of its hardware config
(``controller_endpoint``), holding the rig's lock (:mod:`rig.control.owner`): ``rig gui``
attaches to the running one by itself, so closing the window mid-session and opening it
again leads back to the session. With ``--attach ENDPOINT`` the GUI joins a controller on
another PC. Beyond loopback the controller requires CURVE (``--curve-key``, ``--allow``); a
GUI attaching gives its own secret key (``--key``) and the controller's public key
(``--server-key``); a GUI on the controller's PC uses the controller's own key pair.
Before any window, :func:`gui.display.display_problem` says in one line why Qt could not
open one (no display, a missing system library), instead of Qt's abort.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from types import TracebackType

from PyQt6 import QtCore, QtWidgets

from gui.display import display_problem
from rig.control.client import ControllerClient, ControllerError
from rig.control.owner import running_controller
from rig.schema.hardware import HardwareConfig
from rig.schema.loader import LoadError, load_model

START_S = 20.0  # a controller started here answers its first hello within this


def start_controller(args: argparse.Namespace, endpoint: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "rig.cli", "serve", "--rig", args.rig, "--endpoint", endpoint]
    cmd += ["--protocols", args.protocols, "--speed", str(args.speed)]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    if args.seed is not None:
        cmd += ["--seed", str(args.seed)]
    for option, value in (("--curve-key", args.curve_key), ("--allow", args.allow)):
        if value:
            cmd += [option, value]
    if getattr(args, "any_client", False):
        cmd += ["--any-client"]
    # its own process group: a Ctrl-C in this terminal does not stop a running session
    return subprocess.Popen(cmd, start_new_session=True)


def find_controller(
    args: argparse.Namespace,
) -> tuple[str, subprocess.Popen[bytes] | None, bool]:
    """The rig's controller: the one running (by its lock), else one started here; and
    whether it is this PC's rig's (closing with no session running shuts it down)."""
    if args.attach:
        return args.attach, None, False
    hardware = load_model(Path(args.rig), HardwareConfig)
    data_dir = Path(args.data_dir) if args.data_dir else hardware.data_dir
    owner = running_controller(data_dir, hardware.name)
    if owner is not None and owner.endpoint:
        print(f"rig gui: rig {hardware.name!r} has its controller running "
              f"({owner.describe()}): attaching", flush=True)  # fmt: skip
        return owner.endpoint, None, True
    endpoint = args.endpoint or hardware.controller_endpoint
    return endpoint, start_controller(args, endpoint), True


def first_hello(client: ControllerClient, started: subprocess.Popen[bytes] | None) -> str:
    """ "" once the controller answers; else why not (a started one may have refused)."""
    deadline = time.monotonic() + (START_S if started is not None else client.timeout_ms / 1000)
    while True:
        try:
            client.request("hello", timeout_s=0.5 if started is not None else None)
            return ""
        except ControllerError as exc:
            if started is not None and started.poll() is not None:
                return f"the controller did not start (exit {started.returncode}; why: above)"
            if time.monotonic() >= deadline:
                return str(exc)


def main(args: argparse.Namespace) -> int:
    from gui.window import MainWindow

    plugins = QtCore.QLibraryInfo.path(QtCore.QLibraryInfo.LibraryPath.PluginsPath)
    problem = display_problem(Path(plugins))
    if problem:
        print(f"rig gui: {problem}", file=sys.stderr)
        return 1
    try:
        endpoint, controller, rigs_own = find_controller(args)
    except LoadError as exc:
        print(f"rig gui: {exc}", file=sys.stderr)
        return 1
    curve = None
    if args.attach and (args.key or args.server_key):
        if not (args.key and args.server_key):
            print("rig gui: --attach with CURVE needs both --key and --server-key", file=sys.stderr)
            return 2
        curve = (Path(args.key), Path(args.server_key))
    elif args.curve_key:
        curve = (Path(args.curve_key), Path(args.curve_key))  # the controller's own pair
    client = ControllerClient(endpoint, timeout_s=15, curve=curve)
    failed = first_hello(client, controller)
    if failed:
        print(f"rig gui: {failed}", file=sys.stderr)
        if controller is not None and controller.poll() is None:
            controller.terminate()
        return 1
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])

    def on_close(choice: str) -> None:
        # the window closed: the process ends (Qt's quit-on-last-window did not always
        # come: a SIGTERM's close left `rig gui` running with no window)
        QtCore.QTimer.singleShot(0, app.quit)
        if not rigs_own:
            return  # another PC's (--attach): it goes on, for its own windows
        if choice == "leave":
            print("rig gui: the session goes on; `rig gui` again leads back to it", flush=True)
        else:  # stopped, or no session: this PC's controller goes with the window
            try:
                busy = client.request("hello", timeout_s=5)["busy"]
                if busy:  # a session (or pulses) this window had not heard of yet
                    print(f"rig gui: the controller is busy ({busy}); it goes on", flush=True)
                else:
                    client.request("shutdown")
            except ControllerError:
                if controller is not None:
                    controller.terminate()

    window = MainWindow(client, on_close=on_close)

    def unexpected(
        kind: type[BaseException], error: BaseException, tb: TracebackType | None
    ) -> None:
        # an exception out of a slot: PyQt would abort the window (the session goes on in
        # the controller either way); said on the terminal and in the status bar instead
        traceback.print_exception(kind, error, tb)
        window.statusBar().showMessage(
            f"Unexpected error ({kind.__name__}: {error}); see the terminal"
        )

    sys.excepthook = unexpected
    window.start()
    window.show()

    def terminate(*_: object) -> None:  # Ctrl-C, SIGTERM: no dialog; a session goes on
        window.ask_on_close = lambda: "leave"  # type: ignore[method-assign]
        window.close()

    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, terminate)
    ticker = QtCore.QTimer()  # lets Python run its signal handlers while Qt waits
    ticker.timeout.connect(lambda: None)
    ticker.start(200)
    print(f"rig gui: ready ({endpoint})", flush=True)
    code = app.exec()
    client.close()
    return int(code)


if __name__ == "__main__":
    raise SystemExit("use: rig gui")
