"""The Bpod State Machine: its hardware description, the byte codec and the compiler.

Sans-IO: nothing here opens a port or reads a clock (``reference/bpod-serial-protocol.md``).
"""

from rig.devices.bpod.compiler import Compiled, CompileError, compile_machine
from rig.devices.bpod.hardware import PROFILES, BpodHardware, HardwareError

__all__ = [
    "PROFILES",
    "BpodHardware",
    "CompileError",
    "Compiled",
    "HardwareError",
    "compile_machine",
]
