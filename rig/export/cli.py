"""``rig export-nwb SESSION_DIR [-o FILE]``: one session folder as an NWB file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    """Add ``export-nwb`` to the ``rig`` command's subparsers."""
    p = sub.add_parser("export-nwb", help="write a session folder as an NWB file")
    p.add_argument("session", help="the session folder")
    p.add_argument("-o", "--out", default=None, help="default: <subject>_<session>.nwb in it")
    p.add_argument("--no-validate", action="store_true", help="skip pynwb's validation")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from pynwb import validate

        from rig.export.nwb import export_session
    except ImportError as exc:
        print(f"rig export-nwb: needs pynwb ({exc}); install it: pip install 'rig[nwb]'")
        return 1
    from rig.session.lock import SessionLock

    try:  # the session folder has one writer: not while its session runs (SessionHeld)
        with SessionLock.acquire(Path(args.session)):
            out = export_session(Path(args.session), Path(args.out) if args.out else None)
    except (ValueError, OSError) as exc:  # ExportError and the session readers' errors
        print(f"rig export-nwb: {exc}")
        return 1
    print(f"written  {out} ({out.stat().st_size / 1e6:.2f} MB)")
    if not args.no_validate:
        errors = validate(path=out)
        print(f"pynwb    {len(errors)} validation errors" if errors else "pynwb    valid")
        for error in errors:
            print(f"  {error}")
        return 1 if errors else 0
    return 0
