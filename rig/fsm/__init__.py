"""State machines as data, and the pure reference executor on virtual time."""

from rig.fsm.executor import CYCLE_S, Record, ReferenceExecutor, to_cycles
from rig.fsm.model import EXIT, TUP, Output, State, StateMachine, StateMachineError

__all__ = [
    "CYCLE_S",
    "EXIT",
    "TUP",
    "Output",
    "Record",
    "ReferenceExecutor",
    "State",
    "StateMachine",
    "StateMachineError",
    "to_cycles",
]
