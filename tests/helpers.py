"""Small helpers shared by the test trees (one copy, not one per test file)."""

from __future__ import annotations

from rig.schema.protocol import Protocol
from rig.task.builder import settings_for
from rig.task.spec import Side, TrialSpec


def make_spec(
    protocol: Protocol,
    context: str,
    stage: str | None,
    side: Side,
    free_drop: bool = False,
    delay_s: float | None = None,
    trial: int = 7,
) -> TrialSpec:
    """A trial of ``context`` (its first visit) with the stage's own delay unless given."""
    settings = settings_for(protocol, stage)
    return TrialSpec(
        trial=trial,
        context=context,
        label=context,
        prime=0,
        stage=stage,
        instructed=side,
        free_drop=free_drop,
        delay_s=settings.delay_s if delay_s is None else delay_s,
    )
