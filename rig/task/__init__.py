"""The delayed directional-licking task: trial builder, selection, contexts, outcomes, stats."""

from rig.task.builder import DECISIONS, build_trial, settings_for, stimulus_for
from rig.task.context import ContextTracker, Position, StepAdvanced
from rig.task.outcome import summarize_trial
from rig.task.selection import TrialSelector
from rig.task.spec import SIDES, Outcome, Side, TrialSpec
from rig.task.stats import RollingStats

__all__ = [
    "DECISIONS",
    "SIDES",
    "ContextTracker",
    "Outcome",
    "Position",
    "RollingStats",
    "Side",
    "StepAdvanced",
    "TrialSelector",
    "TrialSpec",
    "build_trial",
    "settings_for",
    "stimulus_for",
    "summarize_trial",
]
