"""rig: the controller of a behavioural rig for the delayed directional-licking task.

rig validate FILE...            check protocols and hardware configs (exit 1 on problems)
rig schema protocol|hardware    print the JSON Schema (for editors' YAML completion)
rig run --rig R --protocol P --subject ID [--trials N] [--seed S] [--data-dir D]
        [--operator O] [--weight-g W] [--notes TEXT] [--fov NAME] [--realtime]
                                one session (on virtual time for the simulated rig)
rig resume SESSION_DIR [--trials N] [--seed S]
                                continue an interrupted session in its folder
rig simulate --curriculum P --mice N --seed S [--json]
                                simulated mice through a curriculum: trials to criterion
rig emulate scope [--bind tcp://127.0.0.1:5570]
                                the fake ScanImage behind its bridge (a microscope PC)
rig emulate bpod [--profile r2-fw23] [--rig R --seed S] [--fault F]
                                an emulated Bpod on pseudo-terminals (prints its ports);
                                with --rig, a simulated mouse licks its ports
rig emulate lickport [--realtime|--fast] [--seed S] [--rig R]
                                the lick-port firmware in a simulated Uno, a simulated
                                mouse at its pins (prints its port)
rig subjects add|list|show|reindex [SUBJECT] [--data-dir D]
                                the subject registry (SQLite in the data folder)
rig next SUBJECT [--data-dir D] what the subject should run today, and why
rig report SUBJECT|--all [--out DIR]
                                figures (PNG) and tables of a subject's training, or
                                trials to criterion per context across subjects
rig export-nwb SESSION_DIR [-o FILE]
                                the session as an NWB file (validated by pynwb)
rig serve --rig R [--endpoint tcp://*:5555 --curve-key K [--allow DIR]] [--data-dir D]
                                the rig's controller: sessions started and steered by GUIs
rig align SESSION_DIR TIFF_DIR  which imaging frame each trial epoch began in, per plane
                                (writes trial_frames.csv and .json into the session)
rig scope-info TIFF|DIR [--json]  what one acquisition's ScanImage files hold: version,
                                planes, flyback, channels, frames, rate, each from its key
rig scope-bridge [--bind tcp://127.0.0.1:5570] [--backend fake|filedrop --dir D] [--log F]
                                the microscope PC's end of the link (CURVE with --curve-key)
rig keys new|rotate NAME [--dir D]
                                CURVE keys for anything that listens beyond loopback
rig gui [--rig R] [--attach ENDPOINT [--key K --server-key P]]
                                the daily-training GUI; starts the rig's controller, or
                                attaches to a running one (also on another PC)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rig.schema.hardware import HardwareConfig
from rig.schema.loader import LoadError, load_model
from rig.schema.protocol import Protocol
from rig.schema.validate import validate_files

if TYPE_CHECKING:
    from rig.session.session import SessionRequest


def _load_pair(args: argparse.Namespace) -> tuple[Protocol, HardwareConfig]:
    problems = []
    protocol = hardware = None
    try:
        protocol = load_model(Path(args.protocol), Protocol)
    except LoadError as exc:
        problems += exc.problems
    try:
        hardware = load_model(Path(args.rig), HardwareConfig)
    except LoadError as exc:
        problems += exc.problems
    if problems or protocol is None or hardware is None:
        for p in problems:
            print(p, file=sys.stderr)
        raise SystemExit(1)
    return protocol, hardware


def cmd_validate(args: argparse.Namespace) -> int:
    problems = validate_files([Path(f) for f in args.files])
    for p in problems:
        print(p)
    return 1 if problems else 0


def cmd_schema(args: argparse.Namespace) -> int:
    model = Protocol if args.kind == "protocol" else HardwareConfig
    print(json.dumps(model.model_json_schema(), indent=2))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from rig.session.session import SessionRequest

    protocol, hardware = _load_pair(args)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    request = SessionRequest(
        protocol=protocol,
        hardware=hardware,
        subject=args.subject,
        trials=args.trials,
        seed=seed,
        data_dir=Path(args.data_dir) if args.data_dir else hardware.data_dir,
        operator=args.operator,
        weight_g=args.weight_g,
        notes=args.notes,
        fov=args.fov,
        protocol_path=args.protocol,
        hardware_path=args.rig,
        realtime=args.realtime,
        fsync_each_trial=True if args.fsync else None,
    )
    today = dt.date.today()
    for warning in hardware.stale_calibrations(today) + hardware.stale_light_calibrations(today):
        print(f"rig run: warning: {warning}", file=sys.stderr)
    return _run("rig run", request, _faults(args))


def _faults(args: argparse.Namespace) -> list[Any]:
    from rig.sim.faults import session_faults

    try:
        return [session_faults(args.fault)] if args.fault else []
    except ValueError as exc:
        print(f"rig {args.command}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_resume(args: argparse.Namespace) -> int:
    from rig.session.resume import ResumeError, resume_request

    try:
        request = resume_request(Path(args.session), args.trials, args.seed, args.realtime)
    except (ResumeError, ValueError) as exc:
        print(f"rig resume: {exc}", file=sys.stderr)
        return 1
    entry = request.resume.entry if request.resume else {}
    for warning in entry.get("warnings", []):
        print(f"rig resume: warning: {warning}", file=sys.stderr)
    first, cut = entry.get("first_trial"), entry.get("interrupted_trials")
    print(f"resuming {args.session} at trial {first} (interrupted: {cut}), {request.trials} to go")
    return _run("rig resume", request, _faults(args))


def _run(command: str, request: SessionRequest, observers: list[Any] | None = None) -> int:
    from rig.devices.bpod.client import BpodError
    from rig.devices.lickport.client import LickportError
    from rig.session.progress import ProgressBar, format_summary
    from rig.session.runner import SessionError
    from rig.session.session import run_session

    bar = ProgressBar(request.trials)
    try:
        outcome = run_session(request, [bar.attach, *(observers or [])])
    except (NotImplementedError, ValueError) as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # the session files could not be written: the session stopped
        print(f"{command}: cannot write the session's files: {exc}", file=sys.stderr)
        return 1
    except (SessionError, BpodError, LickportError) as exc:
        print(f"{command}: the session stopped: {exc}", file=sys.stderr)
        return 1
    finally:
        bar.close()
    print(format_summary(str(outcome.session_dir), outcome.status, outcome.summary))
    print(f"seed     {request.seed} (with the mouse in session.json's sim_mouse_start, reruns it)")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from rig.session.cohort import format_table, simulate_cohort

    protocol, hardware = _load_pair(args)
    try:
        result = simulate_cohort(
            protocol,
            hardware,
            mice=args.mice,
            seed=args.seed,
            trials_per_session=args.trials_per_session,
            max_sessions=args.max_sessions,
            workers=args.workers,
        )
    except ValueError as exc:
        print(f"rig simulate: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result) if args.json else format_table(result))
    return 0


def cmd_emulate(args: argparse.Namespace) -> int:
    from rig.signals import on_terminating_signals

    if args.device == "scope":  # the fake ScanImage behind the bridge, as on its own PC
        from rig.scope.cli import cmd_scope_bridge

        args.backend = "fake"
        return cmd_scope_bridge(args)
    if args.device == "lickport":
        from rig.sim.lickport.serve import serve

        rig = Path(args.rig) if args.rig else None
        serve(
            realtime=not args.fast, seed=args.seed, rig=rig, announce=lambda s: print(s, flush=True)
        )
        return 0
    from rig.devices.bpod.hardware import PROFILES
    from rig.sim.bpod.server import BpodServer

    server = BpodServer(PROFILES[args.profile])
    if args.fault:  # garbage, silence or a reset on the link (rig/sim/faults/link.py)
        from rig.sim.faults.link import LinkFault

        try:
            server.inject(LinkFault(args.fault, seed=args.seed))
        except ValueError as exc:
            print(f"rig emulate: {exc}", file=sys.stderr)
            return 2
    if args.rig:  # a simulated mouse at the ports, wired as the hardware config says
        import random

        from rig.sim.bpod.world import BpodWorld
        from rig.sim.brain import Brain
        from rig.sim.mouse import Mouse

        hardware = load_model(Path(args.rig), HardwareConfig)
        rng = random.Random(args.seed)
        mouse = Mouse(Brain.new(rng), random.Random(rng.random()))
        world = BpodWorld(server.firmware, mouse, hardware.channels, hardware.delivered_ul)
        server.on_cycle = world.on_cycle
    for port, path in sorted(server.ports.items()):
        print(f"port: {path}" if port == 1 else f"port{port}: {path}", flush=True)
    on_terminating_signals(server.stop)
    try:
        server.serve()
    finally:
        server.close()
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rig", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check protocol and hardware config files")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("schema", help="print the JSON Schema of a file kind")
    p.add_argument("kind", choices=["protocol", "hardware"])
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("run", help="run one session")
    p.add_argument("--rig", default="hardware_configs/sim.yaml", help="hardware config")
    p.add_argument("--protocol", required=True)
    p.add_argument("--subject", required=True)
    p.add_argument("--trials", type=_positive, default=500)
    p.add_argument("--seed", type=int, default=None, help="default: a fresh one, recorded")
    p.add_argument("--data-dir", default=None, help="default: the hardware config's data_dir")
    p.add_argument("--operator", default="")
    p.add_argument("--weight-g", type=float, default=None, help="the subject's weight today")
    p.add_argument("--notes", default="")
    p.add_argument("--fov", default="", help="the imaging field of view's name")
    p.add_argument("--realtime", action="store_true", help="pace the simulated rig to the clock")
    p.add_argument("--fsync", action="store_true", help="fsync every trial (as in real time)")
    p.add_argument("--fault", default=None, help="inject a fault (rig/sim/faults): NAME=N")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("resume", help="continue an interrupted session in its folder")
    p.add_argument("session", help="the session folder")
    p.add_argument("--trials", type=_positive, default=None, help="default: what was left")
    p.add_argument("--seed", type=int, default=None, help="default: a fresh one, recorded")
    p.add_argument("--realtime", action="store_true", help="pace the simulated rig to the clock")
    p.add_argument("--fault", default=None, help="inject a fault (rig/sim/faults): NAME=N")
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("simulate", help="run simulated mice through a curriculum")
    p.add_argument("--curriculum", dest="protocol", required=True, help="protocol file")
    p.add_argument("--rig", default="hardware_configs/sim.yaml")
    p.add_argument("--mice", type=_positive, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--trials-per-session", type=_positive, default=500)
    p.add_argument("--max-sessions", type=_positive, default=60)
    p.add_argument("--workers", type=int, default=0, help="processes (0: one per CPU)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_simulate)

    from rig.devices.bpod.hardware import PROFILES

    p = sub.add_parser("emulate", help="serve an emulated device on pseudo-terminals")
    p.add_argument("device", choices=["bpod", "lickport", "scope"])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--realtime", action="store_true", help="lickport: wall-clock (default)")
    mode.add_argument("--fast", action="store_true", help="lickport: as fast as it runs")
    p.add_argument("--profile", choices=sorted(PROFILES), default="r2-fw23")
    p.add_argument("--seed", type=int, default=0, help="the simulated mouse's seed")
    p.add_argument("--rig", default=None, help="hardware config: a simulated mouse at its ports")
    p.add_argument("--bind", default="tcp://127.0.0.1:5570", help="scope: where to listen")
    p.add_argument("--log", default="scope-bridge.jsonl", help="scope: the message log")
    p.add_argument("--curve-key", default=None, help="scope: file with the CURVE secret key")
    p.add_argument("--dir", default="", help=argparse.SUPPRESS)
    p.add_argument(
        "--fault", default=None, help="bpod: garbage-every=N|silent-after=N|reset-after=N"
    )
    p.set_defaults(func=cmd_emulate)

    from rig.control.cli import register as add_controller_commands
    from rig.export.cli import register as add_export_command
    from rig.report.cli import register as add_report_command
    from rig.scope.cli import register as add_scope_commands
    from rig.subjects.cli import register as add_subjects_command

    add_subjects_command(sub)
    add_report_command(sub)
    add_export_command(sub)
    add_controller_commands(sub)
    add_scope_commands(sub)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
