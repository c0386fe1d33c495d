"""The context tracker: where a subject is in the curriculum, and when it moves on.

The curriculum is a list of steps (a context, optionally a shaping stage, and the rule that
ends the step). After every trial the tracker is told the outcome; when the step's rule is
met it advances to the next step and returns a :class:`StepAdvanced`. The operator can
switch at any time (:meth:`ContextTracker.switch`), with a reason that is recorded.

The criterion counts *responded* trials only: percent correct over the last ``window``
trials that were hits or errors, once ``window`` of them exist in the step.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from rig.schema.protocol import CurriculumStep, Protocol
from rig.task.spec import Outcome


@dataclass(frozen=True, slots=True)
class StepAdvanced:
    from_step: int
    to_step: int
    from_label: str
    to_label: str
    trials_in_step: int
    reason: str  # "criterion", "trials", or the operator's reason
    completed: bool = False  # the last step's rule was met: the curriculum is done


@dataclass(frozen=True, slots=True)
class Position:
    """What the tracker needs to continue where a previous session stopped."""

    step: int = 0
    trials_in_step: int = 0
    completed: bool = False
    # the criterion's window: (hit, early lick) of the step's last responded trials, so a
    # criterion over 100 trials can span sessions
    recent: tuple[tuple[bool, bool], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "trials_in_step": self.trials_in_step,
            "completed": self.completed,
            "recent": [list(x) for x in self.recent],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Position:
        recent = tuple((bool(hit), bool(early)) for hit, early in data.get("recent", ()))
        return cls(data["step"], data["trials_in_step"], data["completed"], recent)


class ContextTracker:
    def __init__(self, protocol: Protocol, position: Position | None = None) -> None:
        self.protocol = protocol
        self.labels = protocol.step_labels()
        self.primes = protocol.step_primes()
        position = position or Position()
        if not 0 <= position.step < len(protocol.curriculum):
            raise ValueError(
                f"curriculum step {position.step} does not exist in protocol {protocol.name!r}"
            )
        self.step = position.step
        self.trials_in_step = position.trials_in_step
        self.completed = position.completed
        self._window: deque[tuple[bool, bool]] = deque(
            position.recent, maxlen=self.current.advance.window
        )

    @property
    def current(self) -> CurriculumStep:
        return self.protocol.curriculum[self.step]

    @property
    def label(self) -> str:
        return self.labels[self.step]

    @property
    def prime(self) -> int:
        """How many times this context was left before (0 the first time)."""
        return self.primes[self.step]

    @property
    def position(self) -> Position:
        return Position(self.step, self.trials_in_step, self.completed, tuple(self._window))

    def percent_correct(self) -> float | None:
        if not self._window:
            return None
        return 100.0 * sum(hit for hit, _ in self._window) / len(self._window)

    def record(self, outcome: Outcome, early_lick: bool) -> StepAdvanced | None:
        self.trials_in_step += 1
        if outcome != "no_response":
            self._window.append((outcome == "hit", early_lick))
        rule = self.current.advance
        if rule.rule == "trials" and rule.trials is not None and self.trials_in_step >= rule.trials:
            return self._advance("trials")
        if rule.rule == "criterion" and self.criterion_met():
            return self._advance("criterion")
        return None

    def criterion_met(self) -> bool:
        """The step's criterion holds now (window full, enough trials, percent, early licks)."""
        rule = self.current.advance
        if len(self._window) < rule.window or self.trials_in_step < rule.min_trials:
            return False
        pc = self.percent_correct()
        if pc is None or pc < rule.percent_correct:
            return False
        if rule.max_early_lick_percent is not None:
            early = 100.0 * sum(e for _, e in self._window) / len(self._window)
            return early <= rule.max_early_lick_percent
        return True

    def switch(self, reason: str, to_step: int | None = None) -> StepAdvanced | None:
        """The operator's switch: to the next step (or completion after the last one), or to
        ``to_step``, which must exist. Going back re-opens a completed curriculum."""
        if not reason.strip():
            raise ValueError("a manual switch needs a reason")
        if to_step is not None and not 0 <= to_step < len(self.protocol.curriculum):
            raise ValueError(
                f"curriculum step {to_step} does not exist "
                f"(steps 0 to {len(self.protocol.curriculum) - 1})"
            )
        if to_step is not None and to_step < self.step:
            self.completed = False
        return self._advance(reason, to_step)

    def _advance(self, reason: str, to_step: int | None = None) -> StepAdvanced | None:
        target = self.step + 1 if to_step is None else to_step
        if target >= len(self.protocol.curriculum):
            if not self.completed:
                self.completed = True
                return StepAdvanced(
                    self.step, self.step, self.label, self.label, self.trials_in_step, reason, True
                )
            return None
        event = StepAdvanced(
            self.step, target, self.label, self.labels[target], self.trials_in_step, reason
        )
        self.step, self.trials_in_step = target, 0
        self._window = deque(maxlen=self.current.advance.window)
        return event
