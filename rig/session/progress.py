"""The progress bar and the closing summary of ``rig run``, as bus subscribers."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from rig.bus import Bus, ContextSwitched, TrialCompleted
from rig.task.stats import RollingStats


def _pct(value: float | None) -> str:
    return "  -" if value is None else f"{value:3.0f}"


class ProgressBar:
    """One line, redrawn per trial on a terminal; a line every 10 % otherwise."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 30) -> None:
        self.total = total
        # sys.stderr as it is now (a default argument would keep the one at import time,
        # which a test's capture, or a redirect, may since have closed)
        self.stream = sys.stderr if stream is None else stream
        self.width = width
        self.stats = RollingStats()
        self.label = ""
        self._tty = self.stream.isatty()
        self._last_tenth = -1
        self._open_line = False  # a redrawn line not yet ended (on a terminal)

    def close(self) -> None:
        """End the redrawn line (a session stopped early leaves it open)."""
        if self._open_line:
            self.stream.write("\n")
            self.stream.flush()
            self._open_line = False

    def attach(self, bus: Bus) -> None:
        bus.subscribe(TrialCompleted, self.on_trial)
        bus.subscribe(ContextSwitched, self.on_switch)

    def on_trial(self, event: TrialCompleted) -> None:
        self.stats.add(event.record)
        self.label = event.record["context_label"]
        n = self.stats.trials
        done = min(n / self.total, 1.0) if self.total else 1.0
        bar = "#" * int(done * self.width)
        line = (
            f"[{bar:<{self.width}}] {n:>4}/{self.total} trials | "
            f"correct {_pct(self.stats.percent_correct())} % | "
            f"L {_pct(self.stats.percent_correct('left'))} R "
            f"{_pct(self.stats.percent_correct('right'))} | "
            f"early {_pct(self.stats.early_lick_percent())} % | context {self.label}"
        )
        if self._tty:
            self.stream.write("\r" + line)
            self._open_line = n < self.total
            if not self._open_line:
                self.stream.write("\n")
        elif int(done * 10) != self._last_tenth:
            self._last_tenth = int(done * 10)
            self.stream.write(line + "\n")
        self.stream.flush()

    def on_switch(self, event: ContextSwitched) -> None:
        end = "\n" if self._open_line else ""
        self._open_line = False
        if event.completed:
            text = f"curriculum completed in {event.from_label}"
        else:
            text = (
                f"curriculum step {event.from_step + 1} ({event.from_label}) -> "
                f"{event.to_step + 1} ({event.to_label}) after trial {event.trial}"
            )
        self.stream.write(f"{end}{text} [{event.trials_in_step} trials, {event.reason}]\n")


def format_summary(session_dir: str, status: str, summary: dict[str, Any]) -> str:
    out = summary["outcomes"]
    lines = [
        f"session  {session_dir} ({status})",
        f"trials   {summary['trials']}: {out['hit']} hit, {out['error']} error, "
        f"{out['no_response']} no response",
        f"correct  {_pct(summary['percent_correct'])} % over the last {summary['window']} "
        f"responded (left {_pct(summary['percent_correct_left'])} %, right "
        f"{_pct(summary['percent_correct_right'])} %)",
    ]
    for label, pc in summary["percent_correct_by_context"].items():
        lines.append(f"  {label:<6} {_pct(pc)} %")
    lines += [
        f"early    {_pct(summary['early_lick_percent'])} % of responded trials; "
        f"free drops {summary['free_drops']}",
        f"water    {summary['water_ul']:.1f} uL",
        f"context  now {summary['end_label']}",
    ]
    return "\n".join(lines)
