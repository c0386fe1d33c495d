"""Simulated parts that speak the real interfaces: the mouse, its brain, the virtual device."""

from rig.sim.brain import Brain, Traits
from rig.sim.device import VirtualDevice
from rig.sim.mouse import Mouse

__all__ = ["Brain", "Mouse", "Traits", "VirtualDevice"]
