"""Rolling statistics of a session, from trial records.

Percent correct (overall, per instructed side, per context label) over the last ``window``
*responded* trials (hits and errors; no-response trials are left out, as in the paper's
Perf100); early-lick rate over the same responded trials (Earlylick100); choice bias as
the share of responded trials answered to the right; totals and water.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Responded:
    instructed: str
    hit: bool
    early_lick: bool
    answered_right: bool


def _percent(flags: Iterable[bool]) -> float | None:
    values = list(flags)
    return round(100.0 * sum(values) / len(values), 2) if values else None


@dataclass
class RollingStats:
    window: int = 100
    trials: int = 0
    outcomes: dict[str, int] = field(
        default_factory=lambda: {"hit": 0, "error": 0, "no_response": 0}
    )
    early_licks: int = 0
    free_drops: int = 0
    water_ul: float = 0.0
    _recent: deque[Responded] = field(default_factory=deque)
    _per_label: dict[str, deque[Responded]] = field(default_factory=dict)

    def add(self, record: Mapping[str, Any]) -> None:
        self.trials += 1
        self.outcomes[record["outcome"]] += 1
        self.early_licks += bool(record["early_lick"])
        self.free_drops += bool(record["free_drop_given"])
        self.water_ul += record["reward_ul"] + record["free_drop_ul"]
        if record["outcome"] == "no_response":
            return
        hit = record["outcome"] == "hit"
        instructed = record["instructed"]
        answered = record.get("response_side") or (
            instructed if hit else ("left" if instructed == "right" else "right")
        )
        item = Responded(instructed, hit, bool(record["early_lick"]), answered == "right")
        for queue in (self._recent, self._per_label.setdefault(record["context_label"], deque())):
            queue.append(item)
            if len(queue) > self.window:
                queue.popleft()

    def percent_correct(self, side: str | None = None, label: str | None = None) -> float | None:
        queue = self._recent if label is None else self._per_label.get(label, deque())
        return _percent(r.hit for r in queue if side is None or r.instructed == side)

    def early_lick_percent(self) -> float | None:
        return _percent(r.early_lick for r in self._recent)

    def right_choice_percent(self) -> float | None:
        return _percent(r.answered_right for r in self._recent)

    def snapshot(self) -> dict[str, Any]:
        return {
            "trials": self.trials,
            "outcomes": dict(self.outcomes),
            "percent_correct": self.percent_correct(),
            "percent_correct_left": self.percent_correct("left"),
            "percent_correct_right": self.percent_correct("right"),
            "percent_correct_by_context": {
                label: self.percent_correct(label=label) for label in self._per_label
            },
            "early_lick_percent": self.early_lick_percent(),
            "right_choice_percent": self.right_choice_percent(),
            "early_lick_trials": self.early_licks,
            "free_drops": self.free_drops,
            "water_ul": round(self.water_ul, 3),
            "window": self.window,
        }
