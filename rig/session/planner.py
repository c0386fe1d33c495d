"""The trial planner: what the next trial is, and what a decided trial changes.

It joins the context tracker (which curriculum step, context and stage), the trial selector
(which side, free drop or not) and the trial builder (the state machine). It is pure: the
runner calls :meth:`TrialPlanner.next_trial` when it may queue a trial and
:meth:`TrialPlanner.decided` when a trial's outcome is known.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

from rig.fsm.model import StateMachine
from rig.schema.hardware import HardwareConfig
from rig.schema.protocol import Protocol
from rig.task.builder import build_trial, settings_for, stimulus_for
from rig.task.context import ContextTracker, Position, StepAdvanced
from rig.task.selection import TrialSelector
from rig.task.spec import Outcome, TrialSpec


@dataclass(frozen=True, slots=True)
class PlannedTrial:
    spec: TrialSpec
    machine: StateMachine
    sm_hash: str
    modality: str
    stimulus: str

    def to_json(self) -> dict[str, object]:
        """The plan as ``plans.jsonl`` keeps it: the spec, modality and stimulus."""
        return {
            **dataclasses.asdict(self.spec),
            "modality": self.modality,
            "stimulus": self.stimulus,
        }


class TrialPlanner:
    def __init__(
        self,
        protocol: Protocol,
        hardware: HardwareConfig,
        rng: random.Random,
        position: Position | None = None,
    ) -> None:
        self.protocol = protocol
        self.hardware = hardware
        self.rng = rng
        self.tracker = ContextTracker(protocol, position)
        self.selector = TrialSelector(protocol.trial_selection, protocol.free_drop, rng)
        # A machine depends only on these; the same trial variant is built once.
        self._machines: dict[tuple[object, ...], tuple[StateMachine, str]] = {}

    def next_trial(self, trial: int) -> PlannedTrial:
        step = self.tracker.current
        settings = settings_for(self.protocol, step.stage)
        side = self.selector.next_side(settings.selection_mode)
        delay = settings.delay_s
        if settings.delay_jitter_s > 0:
            delay = round(delay + self.rng.uniform(0.0, settings.delay_jitter_s), 4)
        spec = TrialSpec(
            trial=trial,
            context=step.context,
            label=self.tracker.label,
            prime=self.tracker.prime,
            stage=step.stage,
            instructed=side,
            free_drop=self.selector.free_drop_due(side),
            delay_s=delay,
        )
        key = (spec.context, spec.stage, side, spec.free_drop, spec.delay_s)
        if key not in self._machines:
            machine = build_trial(self.protocol, self.hardware, spec)
            self._machines[key] = (machine, machine.content_hash)
        machine, sm_hash = self._machines[key]
        return PlannedTrial(
            spec,
            machine,
            sm_hash,
            self.protocol.contexts[step.context].modality,
            stimulus_for(self.protocol, step.context, side),
        )

    def replace_protocol(self, protocol: Protocol) -> None:
        """The operator's edit: trials planned from now on use ``protocol``, whose contexts
        and curriculum must be this protocol's (only parameters change)."""
        if protocol.contexts != self.protocol.contexts or (
            protocol.curriculum != self.protocol.curriculum
        ):
            raise ValueError("contexts and the curriculum cannot change during a session")
        self.protocol = protocol
        self.tracker.protocol = protocol
        self.selector.selection = protocol.trial_selection
        self.selector.free_drop_rule = protocol.free_drop
        self._machines.clear()

    def decided(
        self, spec: TrialSpec, outcome: Outcome, early_lick: bool, free_drop_given: bool
    ) -> StepAdvanced | None:
        self.selector.record(spec.instructed, outcome, free_drop_given)
        return self.tracker.record(outcome, early_lick)
