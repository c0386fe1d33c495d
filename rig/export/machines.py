"""Each trial's state machine, rebuilt from the session's own files and checked by its hash.

A trial's machine depends only on the protocol (the snapshot in ``session.json``, with the
operator's ``set`` edits from ``operator.jsonl`` applied from their ``applies_from``
trial), the hardware config snapshot, and the trial's plan in ``trials.jsonl`` (context,
label, prime, stage, instructed side, free drop, delay). The rebuilt machine is kept only
when its hash equals the trial's recorded ``sm_hash``; a trial whose machine cannot be
rebuilt (a session written by another software version, say) keeps its hash alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rig.schema.protocol import Protocol
from rig.session.calibrations import hardware_at
from rig.session.operator import edits_in, with_edits
from rig.task.builder import build_trial
from rig.task.spec import TrialSpec


@dataclass
class MachineTable:
    """The distinct machines of a session: hash -> canonical JSON (``""`` if not rebuilt),
    and the trials whose machine could not be rebuilt."""

    definitions: dict[str, str] = field(default_factory=dict)
    trials: dict[str, list[int]] = field(default_factory=dict)
    not_rebuilt: list[int] = field(default_factory=list)


def rebuild_machines(
    meta: dict[str, Any], records: list[dict[str, Any]], operator: list[dict[str, Any]]
) -> MachineTable:
    protocol = Protocol.model_validate(meta["protocol"])
    edits = edits_in(operator)
    table = MachineTable()
    for record in records:
        due = [e for e in edits if int(e["applies_from"]) <= record["trial"]]
        if due:
            protocol = with_edits(protocol, due)
            edits = edits[len(due) :]
        recorded = str(record["sm_hash"])
        table.trials.setdefault(recorded, []).append(int(record["trial"]))
        if table.definitions.get(recorded):
            continue
        hardware = hardware_at(meta, int(record["trial"]))  # a resume's newer calibration
        machine = build_trial(protocol, hardware, _spec(record))
        if machine.content_hash == recorded:
            table.definitions[recorded] = machine.canonical_json()
        else:
            table.definitions.setdefault(recorded, "")
            table.not_rebuilt.append(int(record["trial"]))
    return table


def _spec(record: dict[str, Any]) -> TrialSpec:
    return TrialSpec(
        trial=int(record["trial"]),
        context=record["context"],
        label=record["context_label"],
        prime=int(record["prime"]),
        stage=record["stage"],
        instructed=record["instructed"],
        free_drop=bool(record["free_drop"]),
        delay_s=float(record["delay_s"]),
    )
