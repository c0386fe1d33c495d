"""Pre-flight checks: what would stop a session later, found before it starts.

Each problem names what is wrong and how to fix it. The session folder is not created
when there is one.

Every trial variant is built, and compiled for the rig's device: for the lick-port board
(what its RAM holds), and for a Bpod, against the configured channels and each valve's
``max_open_s`` on its Bpod output. A Bpod's lines are known only once it is connected: an
emulated one (``emulate://bpod?profile=P``) is compiled for against its profile's
description; for a real one the channel names are checked for their form and the water
bound is checked (it needs no description), and the compiler checks the names against
the connected machine when the first trial is compiled, before it is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlparse

from rig.devices.bpod.compiler import channel_problems, compile_machine
from rig.devices.bpod.hardware import PROFILES, BpodHardware
from rig.devices.lickport.compiler import MEGA, UNO, LickportCompileError, compile_blob
from rig.fsm.model import StateMachine, StateMachineError
from rig.fsm.water import water_problems
from rig.schema.hardware import HardwareConfig
from rig.schema.hardware import channel_problems as config_channel_problems
from rig.schema.protocol import Protocol
from rig.task.builder import build_trial, settings_for
from rig.task.photostim import photostim_preflight
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


NO_LIGHT_YET = (
    "photostim: no device drives light yet (the light output on the Bpod's WavePlayer and "
    "the lick-port board's DAC, and its safety limits, are not built): a session of this "
    "protocol would run without light, so it does not start"
)


def preflight(protocol: Protocol, hardware: HardwareConfig) -> list[str]:
    problems = _volumes(protocol, hardware) + _channels(hardware)
    if protocol.photostim is not None:
        problems += [*photostim_preflight(protocol, hardware), NO_LIGHT_YET]
    if problems:
        return problems
    return _machines(protocol, hardware)


def _channels(hardware: HardwareConfig) -> list[str]:
    """The channel map fits the device (also a config that skipped validation)."""
    raw = hardware.model_dump(mode="json", include={"device", "channels", "shared_inputs"})
    problems = [f"hardware config {where}: {why}" for where, why in config_channel_problems(raw)]
    bpod = _emulated_bpod(hardware)
    if not problems and hardware.device.kind == "bpod" and bpod is not None:
        problems += channel_problems(bpod, hardware.channels)
    return problems


def _emulated_bpod(hardware: HardwareConfig) -> BpodHardware | None:
    """The description the emulated Bpod of the config's url will give (None: no emulated
    Bpod there, or an unknown profile, which opening the device refuses)."""
    url = urlparse(hardware.device.url)
    if url.scheme != "emulate" or url.netloc != "bpod":
        return None
    return PROFILES.get(parse_qs(url.query).get("profile", ["r2-fw23"])[0])


def _device_check(hardware: HardwareConfig) -> Callable[[StateMachine], None]:
    """What the device will do with each trial's machine, raising as it would."""
    limits: dict[str, float] = {v: c.max_open_s for v, c in hardware.valves.items()}
    kind = hardware.device.kind
    bpod = _emulated_bpod(hardware)

    def check(machine: StateMachine) -> None:
        if kind == "lickport":  # what the board's RAM holds
            compile_blob(machine, UNO if hardware.lickport.board == "uno" else MEGA)
        elif kind == "bpod" and bpod is not None:
            compile_machine(machine, bpod, hardware.channels, max_open_s=limits)
        elif kind == "bpod":  # a real Bpod, not connected yet: what needs no description
            problems = water_problems(machine, limits, wiring=hardware.channels)
            if problems:
                raise ValueError("; ".join(problems))

    return check


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
    that the rig's device takes (:func:`_device_check`)."""
    problems = []
    check = _device_check(hardware)
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
                    check(build_trial(protocol, hardware, spec))
                except (ValueError, StateMachineError, LickportCompileError) as exc:
                    problems.append(f"curriculum step {i + 1} ({labels[i]}), {side}: {exc}")
                    break
    return problems
