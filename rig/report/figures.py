"""The report's figures: one PNG each, drawn on Agg (no pyplot, no GUI backend).

Sessions are on the x axis by number (1..N), the date of each day's first session on the
top axis. Within a session, a segment sits at the middle of its trials (a session that
changed context has its two segments side by side), so a criterion crossing is drawn where
it happened. Each context label has one colour in every figure, in first-seen order.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from rig.report.data import Report, Segment

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")  # fmt: skip
WIDTH = 0.8  # of a session on the x axis
FEW = 10  # a segment with fewer responded trials is drawn hollow, off the line


def colours(labels: Sequence[str]) -> dict[str, str]:
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)}


def percent_correct(report: Report, path: Path) -> Path:
    fig, ax = _figure(report, "percent correct per session and context")
    points = [s for s in report.segments if s.percent_correct is not None]
    _segment_points(ax, report, points, [s.percent_correct or 0.0 for s in points])
    ax.axhline(50, color="0.5", lw=0.8, ls=":", label="chance")
    criteria = {s.criterion_percent for s in report.segments} - {None}
    if len(criteria) == 1:
        value = criteria.pop() or 0.0
        ax.axhline(value, color="black", lw=1, ls="--", label=f"criterion {value:g} %")
    else:  # steps with different criteria: each segment's own
        dashed = [(s, s.criterion_percent) for s in report.segments if s.criterion_percent]
        for i, (s, percent) in enumerate(dashed):
            x, label = _x(report, s), "criterion (each step's)" if i == 0 else None
            ax.plot([x - 0.2, x + 0.2], [percent, percent], "k--", lw=1, label=label)
    palette = colours(report.labels())
    for spell in report.spells:
        if spell.reason == "criterion" and spell.left_session is not None:
            x = _at(report, spell.left_session, spell.left_after_trial or 0)
            ax.axvline(x, color=palette[spell.label], lw=1.2, alpha=0.6)
    detours = [s for s in report.spells if s.off_curriculum]
    for spell in detours:
        x = _at(report, spell.entered_session, spell.entered_after_trial)
        ax.axvline(x, color="black", lw=1.2, ls=(0, (4, 2)))
    ax.set_ylim(-2, 102)
    ax.set_ylabel("% correct (hits / (hits + errors))")
    extra = [Line2D([], [], color="0.4", lw=1.2, alpha=0.6, label="criterion met")]
    if detours:
        extra.append(
            Line2D([], [], color="black", lw=1.2, ls=(0, (4, 2)), label="operator's override")
        )
    extra += _hollow(points)
    _legend(ax, report, extra, "marker area: trials")
    return _save(fig, path)


def early_licks(report: Report, path: Path) -> Path:
    fig, ax = _figure(report, "early licks per session and context")
    points = [s for s in report.segments if s.early_lick_percent is not None]
    values = [s.early_lick_percent or 0.0 for s in points]
    _segment_points(ax, report, points, values)
    ax.set_ylim(-2, 102)
    ax.set_ylabel("% of trials with an early lick")
    _legend(ax, report, _hollow(points), "marker area: trials")
    return _save(fig, path)


def trials_to_criterion(report: Report, path: Path) -> Path:
    fig, ax = _figure(report, "trials in each context, in curriculum order", dates=False)
    palette = colours(report.labels())
    spells = [s for s in report.spells if s.trials is not None]
    top = max([s.trials or 0 for s in spells] + [1])
    for x, s in enumerate(spells, 1):
        height = s.trials or 0
        if s.current:
            ax.bar(x, height, color=palette[s.label], alpha=0.3, edgecolor=palette[s.label])
            done = x > 1 and spells[x - 2].label == s.label and spells[x - 2].reason == "criterion"
            note = f"now, {height}\ntrials past the\nlast criterion" if done else (
                f"now\n({height} trials\nso far)")  # fmt: skip
        elif s.trials_to_criterion is not None:
            ax.bar(x, height, color=palette[s.label])
            note = str(height)
        else:
            ax.bar(x, height, color="0.85", edgecolor="0.4", hatch="//")
            reason = s.reason or "?"
            note = f"{height}\n{reason if len(reason) <= 18 else reason[:17] + '…'}"
        ax.text(x, height + top * 0.01, note, ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(1, len(spells) + 1), [s.label for s in spells])
    ax.set_xlim(0.4, len(spells) + 0.6)
    ax.set_ylim(0, top * 1.25)
    ax.set_xlabel("context, in the order the subject met them")
    ax.set_ylabel("trials to criterion")
    kinds = {"met": Patch(color="0.5", label="met criterion (colour: context)"),
             "other": Patch(fc="0.85", ec="0.4", hatch="//",
                            label="left otherwise (a trial count,\nanother protocol, operator)"),
             "now": Patch(fc="0.5", alpha=0.3, ec="0.5", label="current context")}  # fmt: skip
    shown = {"now" if s.current else "other" if s.trials_to_criterion is None else "met"
             for s in spells}  # fmt: skip
    ax.legend(handles=[h for k, h in kinds.items() if k in shown], loc="upper left", fontsize=8,
              frameon=False)  # fmt: skip
    return _save(fig, path)


def weight_water(report: Report, path: Path) -> Path:
    fig = _new(height=5.6)
    weight, water = fig.subplots(2, 1, sharex=True, height_ratios=(1, 1))
    fig.suptitle(f"{report.subject}: weight and water per session", fontweight="bold")
    weighed = [s for s in report.sessions if s.weight_g is not None]
    if weighed:
        xs, ys = [s.number for s in weighed], [s.weight_g or 0.0 for s in weighed]
        weight.plot(xs, ys, "-o", color="0.25", lw=0.8, ms=5)
        pad = max(1.0, 0.1 * (max(ys) - min(ys)))
        weight.set_ylim(min(ys) - pad, max(ys) + pad)
    else:
        weight.text(0.5, 0.5, "no weight recorded", ha="center", va="center",
                    transform=weight.transAxes, color="0.4")  # fmt: skip
    weight.set_ylabel("weight (g)")
    xs = [s.number for s in report.sessions]
    task = [s.water_ul for s in report.sessions]
    water.bar(xs, task, color="#1f77b4", width=0.7, label="task (rewards, free drops)")
    if any(s.hand_water_ul for s in report.sessions):
        water.bar(xs, [s.hand_water_ul for s in report.sessions], bottom=task, width=0.7,
                  color="#9ecae1", label="by hand")  # fmt: skip
    water.set_ylabel("water (µL)")
    water.legend(loc="upper left", fontsize=8, frameon=False)
    water.set_ylim(0, max([1.0, *(s.water_ul + s.hand_water_ul for s in report.sessions)]) * 1.3)
    for ax in (weight, water):
        ax.grid(axis="y", color="0.9")
        ax.set_axisbelow(True)
    _session_axis(water, report)
    _date_axis(weight, report)
    return _save(fig, path)


def cohort(rows: Sequence[tuple[str, int, str, int]], ticks: dict[int, str], path: Path) -> Path:
    """Trials to criterion per context across subjects: one grey line per mouse, the median
    per context in black (Kim, Daie & Li 2025, Fig. 1f)."""
    fig = _new(width=max(4.5, 1.1 * len(ticks) + 2.5))
    ax = fig.add_subplot()
    subjects = list(dict.fromkeys(r[0] for r in rows))
    for subject in subjects:
        mine = sorted((o, n) for s, o, _, n in rows if s == subject)
        ax.plot([o for o, _ in mine], [n for _, n in mine], "-o", color="0.55", lw=0.8, ms=3.5,
                zorder=3)  # fmt: skip
    medians = [(o, statistics.median(n for _, oo, _, n in rows if oo == o)) for o in ticks]
    ax.plot([o for o, _ in medians], [m for _, m in medians], "-", color="black", lw=3, zorder=2)
    mice = {o: sum(1 for r in rows if r[1] == o) for o in ticks}
    names = [f"{t}\nn={mice[o]}" if mice[o] < len(subjects) else t for o, t in ticks.items()]
    ax.set_xticks(list(ticks), names)
    ax.set_xlim(min(ticks, default=1) - 0.5, max(ticks, default=1) + 0.5)
    ax.set_ylim(0, max([n for *_, n in rows] + [1]) * 1.1)
    ax.set_xlabel("context, in curriculum order")
    ax.set_ylabel("trials to criterion")
    ax.set_title(f"trials to criterion per context ({len(subjects)} mice)", fontweight="bold")
    handles = [Line2D([], [], color="0.55", marker="o", ms=3.5, lw=0.8, label="one mouse"),
               Line2D([], [], color="black", lw=3, label="median")]  # fmt: skip
    ax.legend(handles=handles, loc="upper right", fontsize=8, frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _save(fig, path)


def _new(height: float = 4.2, width: float = 8.0) -> Figure:
    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)  # Agg, whatever matplotlib's configured backend is
    return fig


def _figure(report: Report, what: str, dates: bool = True) -> tuple[Figure, Axes]:
    fig = _new()
    ax = fig.add_subplot()
    ax.set_title(f"{report.subject}: {what}", fontweight="bold")
    ax.grid(axis="y", color="0.9")
    ax.set_axisbelow(True)
    if dates:
        _session_axis(ax, report)
        _date_axis(ax, report)
    return fig, ax


def _session_axis(ax: Axes, report: Report) -> None:
    ax.set_xlim(0.5, len(report.sessions) + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=12, integer=True, min_n_ticks=1))
    ax.set_xlabel("session")


def _date_axis(ax: Axes, report: Report) -> None:
    """The date of each day's first session on the top axis, at most about eight."""
    firsts = [s for i, s in enumerate(report.sessions)
              if i == 0 or s.date != report.sessions[i - 1].date]  # fmt: skip
    gap, kept = len(report.sessions) / 8, firsts[:1]
    for s in firsts[1:]:
        if s.number - kept[-1].number >= gap:
            kept.append(s)
    top = ax.secondary_xaxis("top")
    names = [f"{s.date:%d %b}" if i and s.date.year == kept[i - 1].date.year
             else f"{s.date:%d %b %Y}" for i, s in enumerate(kept)]  # fmt: skip
    top.set_xticks([s.number for s in kept], names, fontsize=8)


def _at(report: Report, session: int, after_trial: float) -> float:
    trials = report.sessions[session - 1].trials
    return session - WIDTH / 2 + WIDTH * (after_trial / trials if trials else 0.5)


def _x(report: Report, segment: Segment) -> float:
    return _at(report, segment.session, (segment.first_trial - 1 + segment.last_trial) / 2)


def _segment_points(
    ax: Axes, report: Report, segments: Sequence[Segment], values: Sequence[float]
) -> None:
    """A marker per segment (area: its trials; hollow under ``FEW`` trials), joined by a
    line in the context's colour while the context lasts."""
    palette = colours(report.labels())
    most = max([s.trials for s in segments] + [1])
    run: list[tuple[float, float]] = []
    for i, (s, y) in enumerate(zip(segments, values, strict=True)):
        x, colour = _x(report, s), palette[s.label]
        few = _counted(s) < FEW
        ax.scatter([x], [y], s=12 + 60 * s.trials / most, zorder=2, linewidths=0.8,
                   c="white" if few else colour, edgecolors=colour if few else "white")  # fmt: skip
        if not few:
            run.append((x, y))
        if i + 1 == len(segments) or segments[i + 1].label != s.label:
            ax.plot([p[0] for p in run], [p[1] for p in run], "-", color=colour, lw=1, zorder=1)
            run = []


def _counted(segment: Segment) -> int:
    return segment.hits + segment.errors


def _hollow(segments: Sequence[Segment]) -> list[Line2D]:
    """The legend's entry for hollow markers, if there are any."""
    if all(_counted(s) >= FEW for s in segments):
        return []
    return [Line2D([], [], marker="o", ls="", mfc="white", mec="0.4",
                   label=f"< {FEW} responded trials")]  # fmt: skip


def _legend(ax: Axes, report: Report, extra: list[Line2D], note: str) -> None:
    palette = colours(report.labels())
    handles = [Line2D([], [], marker="o", ls="", color=c, label=lb) for lb, c in palette.items()]
    ax.legend(handles=[*handles, *extra, *ax.get_legend_handles_labels()[0]],
              loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False,
              title=note, title_fontsize=7)  # fmt: skip


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
