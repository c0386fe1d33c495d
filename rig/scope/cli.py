"""``rig align``, ``rig scope-info`` and ``rig scope-bridge``: the microscope's commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    """Add the microscope's commands to the ``rig`` command's subparsers."""
    p = sub.add_parser("align", help="align a session's trials to its imaging frames")
    p.add_argument("session", help="the session folder")
    p.add_argument("tiffs", help="the folder of the acquisition's ScanImage TIFFs")
    p.set_defaults(func=cmd_align)

    p = sub.add_parser("scope-info", help="what one acquisition's ScanImage TIFFs hold")
    p.add_argument("files", nargs="+", help="the acquisition's TIFFs, or their folder")
    p.add_argument("--json", action="store_true", help="print it as JSON, for scripts")
    p.set_defaults(func=cmd_scope_info)

    p = sub.add_parser("scope-bridge", help="the microscope PC's end of the link")
    p.add_argument("--bind", default="tcp://127.0.0.1:5570", help="tcp://*:5570 for the rig")
    p.add_argument("--backend", choices=["fake", "filedrop"], default="fake")
    p.add_argument("--dir", default="scope-requests", help="filedrop: the folder ScanImage polls")
    p.add_argument("--log", default="scope-bridge.jsonl", help="append-only message log")
    p.add_argument("--curve-key", default=None, help="file with the bridge's CURVE secret key")
    p.add_argument("--allow", default=None, help="folder of the rigs' public keys let in")
    p.set_defaults(func=cmd_scope_bridge)


def cmd_align(args: argparse.Namespace) -> int:
    from rig.scope.align import AlignmentError, align
    from rig.session.lock import SessionHeld, SessionLock

    try:  # the session folder has one writer: not while its session runs
        with SessionLock.acquire(Path(args.session)):
            result = align(Path(args.session), Path(args.tiffs))
    except (AlignmentError, SessionHeld, FileNotFoundError) as exc:
        print(f"rig align: {exc}", file=sys.stderr)
        return 1
    fit = result.fit
    drift_ppm = (fit.b - 1) * 1e6
    dropped = sum(r["status"] == "dropped" for r in result.rows)
    print(f"clocks   scope = {fit.a:.6f} s + device x (1 {drift_ppm:+.2f} ppm), by {result.by}")
    print(
        f"residual max {fit.residual_max_s * 1000:.4f} ms, rms "
        f"{fit.residual_rms_s * 1000:.4f} ms over {fit.pairs} "
        + ("trial-start triggers" if result.by == "aux triggers" else "frame-clock pulses")
    )
    acq = result.acquisition
    h = acq.header
    print(
        f"files    ScanImage {h.version}: {len(acq.files)} file(s), {len(acq.frames)} frames, "
        f"{h.planes} plane(s) + {h.flyback} flyback, channels {h.channels}"
    )
    print(f"rows     {len(result.rows)} (trial x epoch x plane); {dropped} on dropped frames")
    if result.frame_clock_pulses is not None:
        print(
            f"frames   {result.frame_clock_pulses} frame-clock pulses; dropped from the files: "
            f"{result.dropped[:20]}; in the files with no pulse: {result.unpulsed[:20]}"
        )
    for flag in acq.flags:
        print(f"flag     {flag}")
    print(f"written  {Path(args.session) / 'trial_frames.csv'} and trial_frames.json")
    return 0


def cmd_scope_info(args: argparse.Namespace) -> int:
    import json

    from rig.scope.info import scope_info, text
    from rig.scope.tiff import ScopeFileError

    try:
        report = scope_info(args.files)
    except ScopeFileError as exc:
        print(f"rig scope-info: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=1) if args.json else text(report))
    return 1 if report["problems"] else 0


def cmd_scope_bridge(args: argparse.Namespace) -> int:
    from rig.signals import on_terminating_signals
    from rig.sync.backends import Backend, FakeBackend, FileDropBackend
    from rig.sync.bridge import Bridge
    from rig.sync.curve import load_public, load_secret_text

    backend: Backend = FakeBackend() if args.backend == "fake" else FileDropBackend(Path(args.dir))
    secret, allowed = None, None
    try:
        if args.curve_key:  # a key file (rig keys new), or the bare Z85 secret
            secret = load_secret_text(Path(args.curve_key))
        if getattr(args, "allow", None):
            allowed = {load_public(p) for p in sorted(Path(args.allow).glob("*.key"))}
        bridge = Bridge(args.bind, backend, Path(args.log), curve_secret_key=secret,
                        allowed=allowed)  # fmt: skip
    except ValueError as exc:  # CurveError: a key missing or unreadable
        print(f"rig scope-bridge: {exc}", file=sys.stderr)
        return 1
    on_terminating_signals(bridge.stop)
    if bridge.guard is not None and bridge.guard.allowed is None:
        warning = bridge.guard.open_warning(args.bind, "no --allow")
        print(f"rig scope-bridge: WARNING: {warning}", file=sys.stderr, flush=True)
    print(f"rig scope-bridge: {args.backend} backend at {args.bind}, log {args.log}", flush=True)
    bridge.serve()
    print(f"rig scope-bridge: {bridge.received} messages, {bridge.refused} refused")
    return 0
