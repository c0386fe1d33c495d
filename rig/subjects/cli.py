"""``rig subjects add|list|show|reindex`` (the registry) and ``rig next SUBJECT``."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from rig.schema.hardware import HardwareConfig
from rig.schema.loader import load_model
from rig.subjects.next import next_for
from rig.subjects.registry import Registry


def register(sub: Any) -> None:
    """Add ``subjects`` to the ``rig`` command's subparsers."""
    p = sub.add_parser("subjects", help="the subject registry: add, list, show, reindex")
    p.add_argument("action", choices=["add", "list", "show", "reindex"])
    p.add_argument("subject", nargs="?", help="add, show: the subject id")
    p.add_argument("--rig", default="hardware_configs/sim.yaml", help="for its data_dir")
    p.add_argument("--data-dir", default=None, help="default: the hardware config's data_dir")
    p.add_argument("--sex", default="")
    p.add_argument("--birth-date", type=dt.date.fromisoformat, default=None, help="YYYY-MM-DD")
    p.add_argument("--genotype", default="")
    p.add_argument("--notes", default="")
    p.set_defaults(func=run)

    p = sub.add_parser("next", help="what a subject should run today, and why")
    p.add_argument("subject")
    p.add_argument("--rig", default="hardware_configs/sim.yaml", help="for its data_dir")
    p.add_argument("--data-dir", default=None, help="default: the hardware config's data_dir")
    p.add_argument("--protocols", default="protocols", help="the folder of protocol files")
    p.set_defaults(func=run_next)


def run_next(args: argparse.Namespace) -> int:
    data_dir = data_dir_of(args)
    print("\n".join(next_for(data_dir, args.subject, Path(args.protocols))))
    return 0


def data_dir_of(args: argparse.Namespace) -> Path:
    """``--data-dir``, else the ``--rig`` hardware config's ``data_dir`` (``~`` expanded)."""
    if args.data_dir:
        return Path(args.data_dir).expanduser()
    return load_model(Path(args.rig), HardwareConfig).data_dir.expanduser()


def run(args: argparse.Namespace) -> int:
    data_dir = data_dir_of(args)
    if args.action in ("add", "show") and not args.subject:
        print(f"rig subjects {args.action}: which subject?")
        return 2
    with Registry(data_dir) as registry:
        if args.action == "add":
            registry.add_subject(args.subject, sex=args.sex, birth_date=args.birth_date,
                                 genotype=args.genotype, notes=args.notes)  # fmt: skip
            print(f"subject {args.subject} added to {data_dir}")
        elif args.action == "reindex":
            print(f"{registry.reindex()} sessions indexed in {data_dir}")
        elif args.action == "list":
            print(_table(registry.subjects()))
        else:
            print(_show(registry, args.subject))
    return 0


def _table(subjects: list[dict[str, Any]]) -> str:
    lines = [f"{'subject':<14}{'sex':<5}{'genotype':<14}{'sessions':>9}  {'last session':<26}now"]
    for s in subjects:
        lines.append(
            f"{s['id']:<14}{s['sex']:<5}{s['genotype']:<14}{s['sessions']:>9}  "
            f"{s['last_session'] or '-':<26}{s['context'] or 'done'}"
        )
    return "\n".join(lines)


def _show(registry: Registry, subject: str) -> str:
    lines = [f"subject {subject}", "", "sessions"]
    for s in registry.sessions(subject):
        pc = "-" if s["percent_correct"] is None else f"{s['percent_correct']:.0f} %"
        lines.append(
            f"  {s['start_time']:<26}{s['protocol']:<22}{s['start_label']:>4} -> "
            f"{s['end_label'] or '?':<4}{s['trials']:>5} trials {pc:>6}  {s['status']}"
            + (f"  {s['fov']}" if s["fov"] else "")
        )
    lines += ["", "contexts"]
    for c in registry.context_history(subject):
        to_criterion = c.trials_to_criterion
        how = (
            "now" if c.left_session is None
            else f"{to_criterion} trials to criterion" if to_criterion is not None
            else f"left after {c.trials} trials ({c.reason})" if c.trials is not None
            else f"left ({c.reason})"
        )  # fmt: skip
        off = f"  off-curriculum: {c.entered_reason}" if c.off_curriculum else ""
        lines.append(f"  {c.label:<5}{c.protocol + ' step ' + str(c.step):<28}{how}{off}")
    fovs = registry.fovs(subject)
    if fovs:
        lines += ["", "fields of view"]
        lines += [f"  {fov:<12}{len(paths)} sessions" for fov, paths in fovs.items()]
    return "\n".join(lines)
