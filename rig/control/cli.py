"""``rig serve`` (the rig's controller for GUIs), ``rig gui`` and ``rig keys new|rotate``
(the CURVE keys of anything that listens beyond loopback: :mod:`rig.sync.curve`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rig.schema.hardware import HardwareConfig
from rig.schema.loader import LoadError, load_model


def register(sub: Any) -> None:
    """Add ``serve``, ``gui`` and ``keys`` to the ``rig`` command's subparsers."""
    p = sub.add_parser("serve", help="run the rig's controller for GUIs")
    controller_options(p)
    p.add_argument(
        "--endpoint", default=None, help="default: the hardware config's controller_endpoint"
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("gui", help="the daily-training GUI")
    controller_options(p)
    p.add_argument("--attach", default=None, help="a running controller's endpoint")
    p.add_argument(
        "--endpoint", default=None, help="default: the hardware config's controller_endpoint"
    )
    p.add_argument("--key", default=None, help="--attach with CURVE: this GUI's secret key")
    p.add_argument("--server-key", default=None, help="--attach: the controller's public key")
    p.set_defaults(func=cmd_gui)

    p = sub.add_parser("keys", help="CURVE keys: make a pair, or rotate one")
    p.add_argument("action", choices=["new", "rotate"])
    p.add_argument("name", help="whose keys: rig1, gui-bench2, scope-pc")
    p.add_argument("--dir", default="keys", help="the folder of key files")
    p.set_defaults(func=cmd_keys)


def controller_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rig", default="hardware_configs/sim.yaml", help="hardware config")
    p.add_argument("--data-dir", default=None, help="default: the hardware config's data_dir")
    p.add_argument("--protocols", default="protocols", help="the folder of protocol files")
    p.add_argument("--speed", type=float, default=1.0, help="simulated rig: times real time")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--curve-key", default=None, help="the controller's secret key (CURVE)")
    p.add_argument("--allow", default=None, help="folder of the GUIs' public keys let in")
    p.add_argument(
        "--any-client",
        action="store_true",
        help="with --curve-key and no --allow: let in any client that has the public key",
    )


def cmd_serve(args: argparse.Namespace) -> int:
    import zmq

    from rig.control.owner import ControllerLock, RigTaken
    from rig.control.server import Controller
    from rig.signals import on_terminating_signals

    try:
        hardware = load_model(Path(args.rig), HardwareConfig)
        endpoint = args.endpoint or hardware.controller_endpoint
        data_dir = Path(args.data_dir) if args.data_dir else hardware.data_dir
        controller = Controller(
            Path(args.rig),
            endpoint,
            data_dir=data_dir,
            protocols_dir=Path(args.protocols),
            speed=args.speed,
            seed=args.seed,
            curve_key=Path(args.curve_key) if args.curve_key else None,
            allow=Path(args.allow) if args.allow else None,
            any_client=args.any_client,
        )
        lock = ControllerLock.acquire(data_dir, hardware.name, endpoint)  # before listening
        taken = _listening_there(endpoint)
        if taken:
            lock.release()
            raise ValueError(
                f"another controller (rig {taken!r}) listens at {endpoint}: give this rig a "
                "controller_endpoint of its own in its hardware config"
            )
    except (LoadError, ValueError, RigTaken, OSError) as exc:
        print(f"rig serve: {exc}", file=sys.stderr)
        return 1
    on_terminating_signals(lambda: controller.handle("shutdown", {}))
    if controller.open_warning:
        print(f"rig serve: WARNING: {controller.open_warning}", file=sys.stderr, flush=True)
    secured = ""
    if controller.guard is not None:
        only = "any client with its key" if controller.guard.allowed is None else "allow list"
        secured = f" (CURVE, {only})"
    print(f"rig serve: {controller.hardware.name} at {endpoint}{secured}", file=sys.stderr,
          flush=True)  # fmt: skip
    try:
        controller.serve()
    except zmq.ZMQError as exc:  # the port is another program's
        print(f"rig serve: cannot listen at {endpoint} ({exc}): give this rig a "
              "controller_endpoint of its own in its hardware config", file=sys.stderr)  # fmt: skip
        return 1
    finally:
        lock.release()
    return 0


def _listening_there(endpoint: str) -> str:
    """The rig whose controller answers at an ipc endpoint already ("" if none does): a
    second bind of an ipc path takes it over without a word (tcp refuses by itself)."""
    from rig.control.client import ControllerClient, ControllerError

    if not endpoint.startswith("ipc://") or not Path(endpoint[6:]).exists():
        return ""
    client = ControllerClient(endpoint, timeout_s=0.5)
    try:
        return str(client.request("hello").get("rig", "?"))
    except ControllerError:
        return ""  # a socket file left behind by a dead controller
    finally:
        client.close()


def cmd_gui(args: argparse.Namespace) -> int:
    import importlib

    try:  # the GUI is a client of rig, in its own package: rig itself never imports Qt
        app = importlib.import_module("gui.app")
    except ImportError as exc:
        print(f"rig gui: the GUI is not installed ({exc}): pip install '.[gui]'", file=sys.stderr)
        return 1
    code: int = app.main(args)
    return code


def cmd_keys(args: argparse.Namespace) -> int:
    from rig.sync.curve import CurveError, new_keys, rotate_keys

    folder = Path(args.dir).expanduser()
    try:
        if args.action == "new":
            if (folder / f"{args.name}.key").exists():
                print(f"rig keys: {folder / args.name}.key exists; use rig keys rotate",
                      file=sys.stderr)  # fmt: skip
                return 1
            public, secret = new_keys(folder, args.name)
        else:
            public, secret, kept = rotate_keys(folder, args.name)
            print(f"kept     {', '.join(map(str, kept))}")
    except CurveError as exc:
        print(f"rig keys: {exc}", file=sys.stderr)
        return 1
    print(f"public   {public}  (give it to the other side: its --server-key, or its --allow)")
    print(f"secret   {secret}  (mode 600; stays here: --curve-key or --key)")
    return 0
