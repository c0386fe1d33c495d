"""``rig gui``: start the rig's controller (or attach to one), then the main window.

The controller is its own process (``rig serve``): the GUI can freeze, crash or close
without a trial noticing. Started here, it listens on a private ipc endpoint unless
``--endpoint`` says otherwise; with ``--attach ENDPOINT`` the GUI joins a controller that is
already running, on this PC or another. Beyond loopback the controller requires CURVE
(``--curve-key``, ``--allow``); a GUI attaching to it gives its own secret key (``--key``)
and the controller's public key (``--server-key``); a GUI that started its controller uses
the controller's own key pair.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from PyQt6 import QtCore, QtWidgets

from rig.control.client import ControllerClient, ControllerError


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


def main(args: argparse.Namespace) -> int:
    from gui.window import MainWindow

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    controller = None
    endpoint = args.attach
    if endpoint is None:
        endpoint = args.endpoint or f"ipc://{tempfile.mkdtemp(prefix='rig-')}/controller"
        controller = start_controller(args, endpoint)
    curve = None
    if args.attach and (args.key or args.server_key):
        if not (args.key and args.server_key):
            print("rig gui: --attach with CURVE needs both --key and --server-key", file=sys.stderr)
            return 2
        curve = (Path(args.key), Path(args.server_key))
    elif controller is not None and args.curve_key:
        curve = (Path(args.curve_key), Path(args.curve_key))  # its own pair
    client = ControllerClient(endpoint, timeout_s=15, curve=curve)
    try:
        client.request("hello")
    except ControllerError as exc:
        print(f"rig gui: {exc}", file=sys.stderr)
        if controller is not None:
            controller.terminate()
        return 1

    def on_close(choice: str) -> None:
        if controller is None:
            return
        if choice == "leave":
            print(f"rig gui: the session goes on; attach with: rig gui --attach {endpoint}")
        else:  # stopped, or no session: the controller this GUI started goes with it
            try:
                client.request("shutdown")  # waits for the running trial, then exits
            except ControllerError:
                controller.terminate()

    window = MainWindow(client, on_close=on_close)
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
