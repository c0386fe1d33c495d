"""``rig validate``: check protocol and hardware config files, every problem at once.

A file is a hardware config when it sits in a ``hardware_configs`` folder or has one of
the hardware config's own keys at the top level; otherwise it is a protocol.

Files given together are also checked against each other: a protocol's ``photostim``
against each valid hardware config given with it (its sites, its powers within the
sources' calibrations, a masking LED: :func:`rig.schema.photostim.photostim_problems`),
each problem located in the protocol and naming the rig. A protocol given alone is checked
against its rig by the pre-flight check.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel

from rig.schema.hardware import HardwareConfig
from rig.schema.loader import LoadError, Problem, load_model, locate, read_yaml
from rig.schema.photostim import photostim_problems
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
    protocols: list[tuple[Path, Protocol]] = []
    rigs: list[HardwareConfig] = []
    for path in paths:
        try:
            model = load_model(path, kind_of(path))
        except LoadError as exc:
            problems += exc.problems
            continue
        if isinstance(model, Protocol):
            protocols.append((path, model))
        elif isinstance(model, HardwareConfig):
            rigs.append(model)
    for path, protocol in protocols:
        problems += cross_file_problems(path, protocol, rigs)
    return problems


def cross_file_problems(
    path: Path, protocol: Protocol, rigs: Iterable[HardwareConfig]
) -> list[Problem]:
    """The protocol at ``path`` against each rig: its problems, located in the protocol."""
    if protocol.photostim is None:
        return []
    located = read_yaml(path)
    problems = []
    for hardware in rigs:
        for dotted, message in photostim_problems(protocol.photostim, hardware):
            loc = tuple(int(p) if p.isdigit() else p for p in dotted.split("."))
            line, col = locate(located, loc, key=len(loc) in (1, 3))  # a site: at its name
            problems.append(Problem(str(path), line, col, dotted, message))
    return sorted(problems, key=lambda p: (p.line, p.col))
