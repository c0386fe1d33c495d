"""What one trial is before it is built: the output of trial selection and the context tracker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Side = Literal["left", "right"]
Outcome = Literal["hit", "error", "no_response"]
SIDES: tuple[Side, Side] = ("left", "right")


def other_side(side: Side) -> Side:
    return "right" if side == "left" else "left"


@dataclass(frozen=True, slots=True)
class TrialSpec:
    """Everything that decides one trial's state machine."""

    trial: int  # 1-based within the session
    context: str  # context name in the protocol (T1)
    label: str  # the curriculum step's label (T1' for a return)
    prime: int  # 0 the first time in this context, 1 for the first return, ...
    stage: str | None  # shaping stage, None for the protocol's defaults
    instructed: Side
    free_drop: bool
    delay_s: float  # drawn when the stage jitters the delay
