"""``rig report SUBJECT`` (one subject's figures and tables) and ``rig report --all``
(trials to criterion per context across subjects)."""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from pathlib import Path
from typing import Any

from rig.report.data import NoSessions, Report, criterion_table, ordinal_labels, read_report
from rig.subjects.cli import data_dir_of
from rig.subjects.registry import DB_NAME, Registry


def register(sub: Any) -> None:
    """Add ``report`` to the ``rig`` command's subparsers."""
    p = sub.add_parser("report", help="a subject's learning curves, or all subjects compared")
    p.add_argument("subject", nargs="?", help="the subject id (or --all)")
    p.add_argument("--all", action="store_true", help="trials to criterion across subjects")
    p.add_argument("--out", default=None, help="default: <data_dir>/reports/<SUBJECT or all>")
    p.add_argument("--protocol", default=None, help="--all: only this protocol's contexts")
    p.add_argument("--rig", default="hardware_configs/sim.yaml", help="for its data_dir")
    p.add_argument("--data-dir", default=None, help="default: the hardware config's data_dir")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if bool(args.subject) == args.all:
        print("rig report: give a subject, or --all", file=sys.stderr)
        return 2
    try:
        from rig.report import figures
    except ImportError as exc:
        print(f"rig report: matplotlib is not installed ({exc}): pip install '.[report]'",
              file=sys.stderr)  # fmt: skip
        return 1
    data_dir = data_dir_of(args)
    name = "all" if args.all else args.subject
    out = Path(args.out).expanduser() if args.out else data_dir / "reports" / name
    if not (data_dir / DB_NAME).is_file():  # no registry: do not create one here
        who = "" if args.all else f"subject {name}: "
        print(f"rig report: {who}no sessions in {data_dir}", file=sys.stderr)
        return 2
    with Registry(data_dir) as registry:
        if args.all:
            return _all(registry, out, figures, args.protocol)
        try:
            report = read_report(registry, args.subject)
        except NoSessions as exc:
            print(f"rig report: {exc}", file=sys.stderr)
            return 2
        except ValueError as exc:  # a session file that cannot be read, named
            print(f"rig report: {exc}", file=sys.stderr)
            return 1
    written = [
        figures.percent_correct(report, out / "percent_correct.png"),
        figures.trials_to_criterion(report, out / "trials_to_criterion.png"),
        figures.early_licks(report, out / "early_licks.png"),
        figures.weight_water(report, out / "weight_water.png"),
        _csv(out / "sessions.csv", SESSION_COLUMNS, session_rows(report)),
        _csv(out / "contexts.csv", CONTEXT_COLUMNS, context_rows(report)),
    ]
    print(_contexts_table(report))
    for path in written:
        print(f"wrote {path}")
    return 0


SESSION_COLUMNS = ("session", "start_time", "protocol", "context", "trials", "hits", "errors",
                   "no_response", "percent_correct", "early_lick_percent", "water_ul",
                   "weight_g", "status")  # fmt: skip
CONTEXT_COLUMNS = ("label", "entered_session", "left_session", "reason", "trials",
                   "trials_to_criterion", "entered_by")  # fmt: skip


def session_rows(report: Report) -> list[tuple[Any, ...]]:
    """One row per session and context segment (``SESSION_COLUMNS``)."""
    rows = []
    for g in report.segments:
        s = report.sessions[g.session - 1]
        rows.append((s.number, s.start_time, s.protocol, g.label, g.trials, g.hits, g.errors,
                     g.no_responses, _num(g.percent_correct), _num(g.early_lick_percent),
                     _num(g.water_ul, 2), _num(s.weight_g), s.status))  # fmt: skip
    return rows


def context_rows(report: Report) -> list[tuple[Any, ...]]:
    """The context history (``CONTEXT_COLUMNS``), by session number."""
    return [
        (c.label, c.entered_session, _num(c.left_session), c.reason or "", _num(c.trials),
         _num(c.trials_to_criterion), c.entered_reason)
        for c in report.spells
    ]  # fmt: skip


def _all(registry: Registry, out: Path, figures: Any, protocol: str | None) -> int:
    table = criterion_table(registry, protocol)
    if not table:
        print(f"rig report: no subject in {registry.data_dir} has met a criterion yet",
              file=sys.stderr)  # fmt: skip
        return 2
    ticks = ordinal_labels(table)
    written = [
        figures.cohort(table, ticks, out / "trials_to_criterion_all.png"),
        _csv(out / "trials_to_criterion_all.csv",
             ("subject", "ordinal", "label", "trials_to_criterion"), table),
    ]  # fmt: skip
    subjects = list(dict.fromkeys(r[0] for r in table))
    width = max([8, *(len(s) + 2 for s in subjects)])
    cols = {o: max(7, len(t) + 2) for o, t in ticks.items()}
    lines = [f"{'subject':<{width}}" + "".join(f"{t:>{cols[o]}}" for o, t in ticks.items())]
    cells = {(s, o): n for s, o, _, n in table}
    for subject in subjects:
        lines.append(f"{subject:<{width}}" + "".join(
            f"{cells.get((subject, o), '-'):>{cols[o]}}" for o in ticks))  # fmt: skip
    medians = {o: statistics.median(n for _, oo, _, n in table if oo == o) for o in ticks}
    lines.append(f"{'median':<{width}}" + "".join(f"{m:>{cols[o]}g}" for o, m in medians.items()))
    print("trials to criterion\n" + "\n".join(lines))
    for path in written:
        print(f"wrote {path}")
    return 0


def _contexts_table(report: Report) -> str:
    n = len(report.sessions)
    lines = [f"{report.subject}: {n} session{'s' * (n != 1)}, "
             f"{sum(s.trials for s in report.sessions)} trials", "",
             f"{'context':<9}{'sessions':<10}{'trials':>7}  outcome"]  # fmt: skip
    for c in report.spells:
        last = c.left_session or n
        span = str(last) if last == c.entered_session else f"{c.entered_session}-{last}"
        outcome = (
            "now" if c.current
            else "criterion" if c.trials_to_criterion is not None
            else f"left: {c.reason}"
        )  # fmt: skip
        lines.append(f"{c.label:<9}{span:<10}{_num(c.trials) or '-':>7}  {outcome}")
    return "\n".join(lines)


def _num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else f"{value:.{digits}f}"


def _csv(path: Path, header: tuple[str, ...], rows: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path
