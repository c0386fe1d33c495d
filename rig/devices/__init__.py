"""Behaviour devices: the interface the session runner drives (Bpod, lick-port, simulated)."""

from rig.devices.base import Device

__all__ = ["Device"]
