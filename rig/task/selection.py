"""Trial selection: which side the next trial instructs, and whether it gets a free drop.

Modes (the Li lab's home-cage scheme):

- ``random``: each side with p = 1/2;
- ``antibias``: over the last ``antibias_window`` responded trials,
  p(left) = 1/2 x (share of hits that were right trials + share of errors that were left
  trials); a side with no hit in its last ``min_correct_of_last`` trials is forced;
- ``autolearn``: a trial that was not a hit is repeated until it is.

In every mode but autolearn's repeat, never more than ``max_same`` trials of one side in a
row. A free drop is due for a side whose last ``after_unrewarded`` trials were all
unrewarded, when more than ``min_trials_between`` trials passed since the last free drop.

The selector is pure: a seeded :class:`random.Random` and the history it is told.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from rig.schema.protocol import FreeDrop, TrialSelection
from rig.task.spec import SIDES, Outcome, Side, other_side


@dataclass(frozen=True, slots=True)
class Past:
    side: Side
    outcome: Outcome
    free_drop: bool


class TrialSelector:
    def __init__(self, selection: TrialSelection, free_drop: FreeDrop, rng: random.Random) -> None:
        self.selection = selection
        self.free_drop_rule = free_drop
        self.rng = rng
        self.history: list[Past] = []

    def record(self, side: Side, outcome: Outcome, free_drop: bool) -> None:
        self.history.append(Past(side, outcome, free_drop))

    def next_side(self, mode: str | None = None) -> Side:
        mode = mode or self.selection.mode
        last = self.history[-1] if self.history else None
        if mode == "autolearn" and last is not None and last.outcome != "hit":
            return last.side
        forced = self._over_max_same()
        if forced is not None:
            return forced
        if mode == "antibias":
            forced = self._starved_side()
            if forced is not None:
                return forced
            return "left" if self.rng.random() < self.p_left() else "right"
        return self.rng.choice(SIDES)

    def _over_max_same(self) -> Side | None:
        n = self.selection.max_same
        if n <= 0 or len(self.history) < n:
            return None
        recent = {p.side for p in self.history[-n:]}
        return other_side(recent.pop()) if len(recent) == 1 else None

    def _starved_side(self) -> Side | None:
        n = self.selection.min_correct_of_last
        starved = []
        for side in SIDES:
            mine = [p for p in self.history if p.side == side][-n:]
            if len(mine) == n and not any(p.outcome == "hit" for p in mine):
                starved.append(side)
        return starved[0] if len(starved) == 1 else None

    def p_left(self) -> float:
        """Anti-bias probability of a left trial over the recent responded trials."""
        window = [p for p in self.history if p.outcome != "no_response"][
            -self.selection.antibias_window :
        ]
        hits = [p for p in window if p.outcome == "hit"]
        errors = [p for p in window if p.outcome == "error"]
        right_of_hits = sum(p.side == "right" for p in hits) / len(hits) if hits else 0.5
        left_of_errors = sum(p.side == "left" for p in errors) / len(errors) if errors else 0.5
        return 0.5 * (right_of_hits + left_of_errors)

    def free_drop_due(self, side: Side) -> bool:
        rule = self.free_drop_rule
        if not rule.enabled:
            return False
        mine = [p for p in self.history if p.side == side][-rule.after_unrewarded :]
        if len(mine) < rule.after_unrewarded or any(p.outcome == "hit" for p in mine):
            return False
        since = next((i for i, p in enumerate(reversed(self.history)) if p.free_drop), None)
        return since is None or since > rule.min_trials_between
