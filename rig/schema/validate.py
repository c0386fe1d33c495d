"""``rig validate``: check protocol and hardware config files, every problem at once.

A file is a hardware config when it sits in a ``hardware_configs`` folder or has one of
the hardware config's own keys at the top level; otherwise it is a protocol.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel

from rig.schema.hardware import HardwareConfig
from rig.schema.loader import LoadError, Problem, load_model, read_yaml
from rig.schema.protocol import Protocol

HARDWARE_ONLY = set(HardwareConfig.model_fields) - set(Protocol.model_fields)


def kind_of(path: Path) -> type[BaseModel]:
    if path.parent.name == "hardware_configs":
        return HardwareConfig
    try:
        data = read_yaml(path).data
    except LoadError:
        return Protocol  # load_model reports the file's own problem
    if isinstance(data, dict) and (HARDWARE_ONLY & set(data)):
        return HardwareConfig
    return Protocol


def validate_files(paths: Iterable[Path]) -> list[Problem]:
    problems: list[Problem] = []
    for path in paths:
        try:
            load_model(path, kind_of(path))
        except LoadError as exc:
            problems += exc.problems
    return problems
