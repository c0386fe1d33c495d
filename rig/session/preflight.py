"""Pre-flight checks: what would stop a session later, found before it starts.

Each problem names what is wrong and how to fix it. The session folder is not created
when there is one.
"""

from __future__ import annotations

from rig.devices.lickport.compiler import MEGA, UNO, LickportCompileError, compile_blob
from rig.fsm.model import StateMachineError
from rig.schema.hardware import HardwareConfig
from rig.schema.protocol import Protocol
from rig.task.builder import build_trial, settings_for
from rig.task.spec import SIDES, TrialSpec


def require_ready(protocol: Protocol, hardware: HardwareConfig) -> None:
    """Raise ``ValueError`` with every pre-flight problem, one per line."""
    problems = preflight(protocol, hardware)
    if hardware.require_scope and hardware.scope.kind == "none":
        problems.append(
            f"rig {hardware.name!r} requires the microscope (require_scope: true) but has "
            "none (scope.kind: none): configure it, or set require_scope: false to train "
            "without imaging"
        )
    if problems:
        raise ValueError("pre-flight check failed:\n  " + "\n  ".join(problems))


def preflight(protocol: Protocol, hardware: HardwareConfig) -> list[str]:
    problems = _volumes(protocol, hardware)
    if problems:
        return problems
    return _machines(protocol, hardware)


def _volumes(protocol: Protocol, hardware: HardwareConfig) -> list[str]:
    volumes = {"reward.volume_ul": protocol.reward.volume_ul}
    if protocol.free_drop.enabled and protocol.free_drop.volume_ul is not None:
        volumes["free_drop.volume_ul"] = protocol.free_drop.volume_ul
    problems = []
    for side in SIDES:
        for field, volume in volumes.items():
            try:
                beyond = protocol.reward.beyond_calibration
                hardware.valve(side).open_time_s(volume, beyond_points=beyond)
            except ValueError as exc:
                problems.append(
                    f"valve_{side}: {exc} ({field} of protocol {protocol.name!r}); "
                    f"recalibrate the valve or lower {field}"
                )
    return problems


def _machines(protocol: Protocol, hardware: HardwareConfig) -> list[str]:
    """Every trial variant of every curriculum step builds into a valid state machine
    (that the lick-port board, when the rig has one, can hold)."""
    problems = []
    labels, primes = protocol.step_labels(), protocol.step_primes()
    for i, step in enumerate(protocol.curriculum):
        settings = settings_for(protocol, step.stage)
        for side in SIDES:
            for free_drop in (False, True):
                spec = TrialSpec(
                    0, step.context, labels[i], primes[i], step.stage, side, free_drop,
                    settings.delay_s,
                )  # fmt: skip
                try:
                    machine = build_trial(protocol, hardware, spec)
                    if hardware.device.kind == "lickport":  # what the board's RAM holds
                        board = hardware.lickport.board
                        compile_blob(machine, UNO if board == "uno" else MEGA)
                except (ValueError, StateMachineError, LickportCompileError) as exc:
                    problems.append(f"curriculum step {i + 1} ({labels[i]}), {side}: {exc}")
                    break
    return problems
