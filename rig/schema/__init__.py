"""Protocols and hardware configs: pydantic models, YAML loading with located errors."""

from rig.schema.hardware import HardwareConfig, ValveCalibration
from rig.schema.loader import LoadError, Problem, load_model
from rig.schema.protocol import Context, CurriculumStep, Protocol, Stage, SwitchRule

__all__ = [
    "Context",
    "CurriculumStep",
    "HardwareConfig",
    "LoadError",
    "Problem",
    "Protocol",
    "Stage",
    "SwitchRule",
    "ValveCalibration",
    "load_model",
]
