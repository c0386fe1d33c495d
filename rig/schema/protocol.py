"""Protocol files as pydantic models.

A protocol file says everything about a task: the epoch timings (every number of the task
table in ``design/mission.md``, with the paper's defaults), the contexts (modality and
stimulus-to-side mapping), the early-lick policy, free drops, trial selection, the context
switch rule, the shaping stages, the curriculum and the photoinhibition (``photostim``,
:mod:`rig.schema.photostim`). Nothing about a trial lives in code.

Cross-field problems (a curriculum step naming a context that does not exist, ...) are
reported with their own location (see :func:`rig.schema.loader.located_errors`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from rig.schema.base import CrossChecked, Strict
from rig.schema.loader import located_errors
from rig.schema.photostim import Photostim, step_problems

Side = Literal["left", "right"]
MAX_EPOCH_S = 600.0  # ten minutes: longer is a typo, not an epoch
Seconds = Annotated[float, Field(ge=0, le=MAX_EPOCH_S)]
PositiveSeconds = Annotated[float, Field(gt=0, le=MAX_EPOCH_S)]
Hertz = Annotated[float, Field(gt=0, le=100_000)]
Percent = Annotated[float, Field(ge=0, le=100)]


class GoCue(Strict):
    freq_hz: Hertz = 3700.0
    duration_s: PositiveSeconds = 0.1


class Epochs(Strict):
    """Trial epochs, in seconds (the paper's defaults)."""

    trial_start_ttl_s: PositiveSeconds = 0.01
    pre_sample_s: Seconds = 1.57
    sample_s: PositiveSeconds = 1.3
    delay_s: Seconds = 1.3
    go_cue: GoCue = GoCue()
    response_window_s: PositiveSeconds = 4.0
    reward_consumption_s: Seconds = 0.75
    timeout_s: Seconds = 4.0
    no_response_s: Seconds = 0.002
    stop_licking_s: Seconds = 1.0
    stop_licking_return_s: PositiveSeconds = 0.01

    @model_validator(mode="after")
    def _window_covers_cue(self) -> Epochs:
        if self.response_window_s <= self.go_cue.duration_s:
            raise located_errors([("response_window_s", "must be longer than go_cue.duration_s")])
        return self


class Reward(Strict):
    """Water per correct lick; the open time comes from the rig's valve calibration."""

    volume_ul: Annotated[float, Field(gt=0, le=20)] = 2.5
    # what the mouse should get in one session (a water-restricted mouse: about 1 mL a day)
    session_target_ul: Annotated[float, Field(gt=0, le=5000)] = 1000.0
    # volumes outside the valve's measured points: refused unless this says so
    beyond_calibration: bool = False


class EarlyLick(Strict):
    """What a lick in the sample or delay epoch does.

    ``restart``: a short early-lick state, then the epoch's timer starts again; ``abort``:
    the trial ends without a response; ``ignore``: the lick is recorded, nothing happens.
    The trial is flagged ``early_lick`` whatever the policy.
    """

    policy: Literal["restart", "abort", "ignore"] = "restart"
    epochs: list[Literal["sample", "delay"]] = ["sample", "delay"]
    state_s: PositiveSeconds = 0.05


class FreeDrop(Strict):
    """A drop from the correct port after the delay, before the go cue, for a stuck side."""

    enabled: bool = True
    after_unrewarded: Annotated[int, Field(ge=1)] = 3
    min_trials_between: Annotated[int, Field(ge=0)] = 3
    volume_ul: Annotated[float, Field(gt=0, le=20)] | None = None  # None: the reward volume


class TrialSelection(Strict):
    """How the instructed side of the next trial is drawn."""

    mode: Literal["random", "antibias", "autolearn"] = "antibias"
    max_same: Annotated[int, Field(ge=0)] = 3  # 0: no limit
    antibias_window: Annotated[int, Field(ge=1)] = 30
    min_correct_of_last: Annotated[int, Field(ge=1)] = 5  # force a side with no hit in these


class Context(Strict):
    """A task context: a modality and the mapping from stimulus to lick side."""

    modality: Literal["tactile", "auditory"]
    mapping: dict[str, Side]  # stimulus name -> side
    description: str = ""

    @model_validator(mode="after")
    def _both_sides(self) -> Context:
        known = POLE_POSITIONS if self.modality == "tactile" else TONES
        problems = [
            (f"mapping.{name}", f"unknown {self.modality} stimulus (known: {sorted(known)})")
            for name in self.mapping
            if name not in known
        ]
        if sorted(self.mapping.values()) != ["left", "right"]:
            problems.append(("mapping", "needs exactly one stimulus for each side"))
        if problems:
            raise located_errors(problems)
        return self


POLE_POSITIONS = ("anterior", "posterior")
TONES = ("high", "low")


class Stimuli(Strict):
    """Physical stimulus parameters shared by every context."""

    # 0 is "no output" on the device, so a position is 1..255
    pole_positions: dict[Literal["anterior", "posterior"], Annotated[int, Field(ge=1, le=255)]] = {
        "anterior": 30,
        "posterior": 100,
    }
    tone_hz: dict[Literal["high", "low"], Hertz] = {"high": 10000.0, "low": 2000.0}

    @model_validator(mode="after")
    def _two_distinct(self) -> Stimuli:
        problems = []
        for field, values in (("pole_positions", self.pole_positions), ("tone_hz", self.tone_hz)):
            known = POLE_POSITIONS if field == "pole_positions" else TONES
            if set(values) != set(known):
                problems.append((field, f"needs both {' and '.join(known)}"))
            elif len(set(values.values())) < 2:
                problems.append((field, "the two stimuli must differ, or no mouse can tell them"))
        if problems:
            raise located_errors(problems)
        return self


class SwitchRule(Strict):
    """When a curriculum step (a context or a shaping stage) is done.

    ``manual``: only the operator switches; ``trials``: after ``trials`` trials in the step;
    ``criterion``: percent correct over the last ``window`` responded trials reaches
    ``percent_correct`` (and, optionally, ``min_trials`` trials were run in the step and the
    early-lick rate over the window is at most ``max_early_lick_percent``).
    """

    rule: Literal["manual", "trials", "criterion"] = "criterion"
    trials: Annotated[int, Field(ge=1)] | None = None
    percent_correct: Percent = 75.0
    window: Annotated[int, Field(ge=1)] = 100
    min_trials: Annotated[int, Field(ge=0)] = 0
    max_early_lick_percent: Percent | None = None

    @model_validator(mode="after")
    def _trials_given(self) -> SwitchRule:
        if self.rule == "trials" and self.trials is None:
            raise located_errors([("trials", "required when rule is 'trials'")])
        if self.rule != "trials" and self.trials is not None:
            raise located_errors(
                [("trials", f"only used when rule is 'trials' (not {self.rule!r})")]
            )
        return self


class Stage(Strict):
    """A shaping stage: what it changes from the protocol's defaults (None: unchanged)."""

    description: str = ""
    delay_s: Seconds | None = None
    delay_jitter_s: Seconds = 0.0  # the delay is drawn from [delay_s, delay_s + jitter]
    sample_s: PositiveSeconds | None = None
    timeout_s: Seconds | None = None
    response_window_s: PositiveSeconds | None = None
    early_lick_policy: Literal["restart", "abort", "ignore"] | None = None
    early_lick_epochs: list[Literal["sample", "delay"]] | None = None
    selection_mode: Literal["random", "antibias", "autolearn"] | None = None
    errors: Literal["allowed", "ignored"] = "allowed"  # ignored: a wrong lick does nothing
    either_side_rewarded: bool = False


class CurriculumStep(Strict):
    context: str
    stage: str | None = None
    label: str | None = None  # e.g. "T1'" for a return; derived when not given
    advance: SwitchRule = SwitchRule()


class Protocol(CrossChecked):
    """A whole protocol file."""

    name: str
    description: str = ""
    version: int = 1
    epochs: Epochs = Epochs()
    reward: Reward = Reward()
    early_lick: EarlyLick = EarlyLick()
    free_drop: FreeDrop = FreeDrop()
    trial_selection: TrialSelection = TrialSelection()
    stimuli: Stimuli = Stimuli()
    contexts: dict[str, Context]
    stages: dict[str, Stage] = {}
    curriculum: list[CurriculumStep] = Field(min_length=1)
    photostim: Photostim | None = None  # None: no light (rig.schema.photostim)

    @model_validator(mode="after")
    def _stage_windows_cover_the_cue(self) -> Protocol:
        cue = self.epochs.go_cue.duration_s
        problems = [
            (f"stages.{name}.response_window_s", f"must be longer than the go cue ({cue} s)")
            for name, stage in self.stages.items()
            if stage.response_window_s is not None and stage.response_window_s <= cue
        ]
        if problems:
            raise located_errors(problems)
        return self

    @classmethod
    def raw_problems(cls, data: dict[str, Any]) -> list[tuple[str, str]]:
        return _reference_problems(data) + step_problems(data)

    def step_primes(self) -> list[int]:
        """Per step, how many times its context was left before (T1' is 1: one return)."""
        left: dict[str, int] = {}
        primes = []
        previous: str | None = None
        for step in self.curriculum:
            if previous is not None and step.context != previous:
                left[previous] = left.get(previous, 0) + 1
            primes.append(left.get(step.context, 0))
            previous = step.context
        return primes

    def step_names(self) -> list[str]:
        """Unique names for the steps: the label, with the stage where labels repeat, and
        the step's number where that still repeats."""
        labels = self.step_labels()
        names = [
            f"{label}/{step.stage}" if labels.count(label) > 1 and step.stage else label
            for label, step in zip(labels, self.curriculum, strict=True)
        ]
        return [f"{n}#{i + 1}" if names.count(n) > 1 else n for i, n in enumerate(names)]

    def step_labels(self) -> list[str]:
        """Each step's label: its own, else the context name with a prime per return."""
        return [
            step.label if step.label is not None else step.context + "'" * prime
            for step, prime in zip(self.curriculum, self.step_primes(), strict=True)
        ]


def _reference_problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Curriculum steps that name a context or stage the file does not define."""
    if not isinstance(data.get("curriculum"), list):
        return []
    defined = {
        kind: set(data[kind]) if isinstance(data.get(kind), dict) else set()
        for kind in ("contexts", "stages")
    }
    problems = []
    for i, step in enumerate(data["curriculum"]):
        if not isinstance(step, dict):
            continue
        for field, kind in (("context", "contexts"), ("stage", "stages")):
            name = step.get(field)
            if isinstance(name, str) and name not in defined[kind]:
                known = ", ".join(sorted(map(str, defined[kind]))) or "none"
                problems.append(
                    (
                        f"curriculum.{i}.{field}",
                        f"{field} {name!r} does not exist (defined: {known})",
                    )
                )
    return problems
