"""The emulated Bpod State Machine: its firmware's behaviour, cycle by cycle (sans-IO)."""

from rig.sim.bpod.firmware import BpodFirmware
from rig.sim.bpod.matrix import MatrixError, StateMatrix, load_matrix

__all__ = ["BpodFirmware", "MatrixError", "StateMatrix", "load_matrix"]
