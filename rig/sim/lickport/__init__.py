"""The lick-port firmware on a simulated ATmega328P (simavr), driven in lockstep."""

from rig.sim.lickport.harness import CYCLES_PER_S, Harness, HarnessError, Output

__all__ = ["CYCLES_PER_S", "Harness", "HarnessError", "Output"]
