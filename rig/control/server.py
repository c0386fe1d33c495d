"""The controller: one rig's headless process, which GUIs (here or on another PC) talk to.

Two ZeroMQ sockets (:func:`events_endpoint` derives the second from the first):

- ROUTER at ``ENDPOINT``: requests in (from REQ or DEALER clients), one JSON reply each
  (``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``); see
  :meth:`Controller.handle` for the list. Any bytes are answered (a request is one frame
  of JSON; a frame over :data:`MAX_REQUEST_BYTES` drops its sender's connection);
- PUB at the events endpoint: every bus event of the running session, numbered
  (:mod:`rig.control.wire`). Nothing is dropped for a slow subscriber (no high-water
  mark); a subscriber that misses messages (it attached late, or was frozen) asks for
  them again with ``history``.

Threads: the main thread owns both sockets and the session's history; a session runs in
a thread of its own (the runner never waits on a socket) and hands its bus events to the
main thread through an inproc PUSH/PULL pair. Operator commands reach the runner through
its :class:`~rig.session.operator.Inbox`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import zmq

from rig.bus import Bus, SessionEnded, SessionStarted
from rig.control.bench import REQUESTS as BENCH_REQUESTS
from rig.control.bench import Bench
from rig.control.requests import (
    protocol_in,
    resume_in,
    start_request,
    weight_of,
    whole,
)
from rig.control.wire import EVENT_TYPES, TOPIC, encode_body, encode_header
from rig.schema.hardware import HardwareConfig
from rig.schema.loader import LoadError, load_model
from rig.schema.protocol import Protocol
from rig.session.history import check_subject_id
from rig.session.operator import Inbox, OperatorError, check_command
from rig.session.recorder import annotate_session
from rig.session.session import SIGNAL_STOP, SessionRequest, run_session
from rig.session.today import subjects, suggest
from rig.subjects.registry import Registry
from rig.sync.curve import Guard, listen_safely, require_key

INPROC = "inproc://rig-session-events"
MAX_REQUEST_BYTES = 1 << 20  # the largest request (notes, calibration points) is a few kB
log = logging.getLogger(__name__)


def _error(message: str) -> bytes:
    return json.dumps({"ok": False, "error": message}).encode()


def events_endpoint(endpoint: str) -> str:
    """tcp://HOST:PORT -> tcp://HOST:PORT+1; ipc://PATH -> ipc://PATH.events."""
    if endpoint.startswith("ipc://"):
        return endpoint + ".events"
    if endpoint.startswith("tcp://"):
        host, _, port = endpoint[6:].rpartition(":")
        if host and port.isdigit():
            return f"tcp://{host}:{int(port) + 1}"
    raise ValueError(f"endpoint {endpoint!r}: use tcp://HOST:PORT or ipc://PATH")


class Controller:
    def __init__(
        self,
        hardware_path: Path,
        endpoint: str,
        *,
        data_dir: Path | None = None,
        protocols_dir: Path = Path("protocols"),
        speed: float = 1.0,
        seed: int | None = None,
        curve_key: Path | None = None,
        allow: Path | None = None,
        any_client: bool = False,
    ) -> None:
        """``curve_key``: the controller's secret key (required to listen beyond loopback);
        ``allow``: a folder of the GUIs' public keys, the only ones let in besides the
        controller's own pair (:mod:`rig.sync.curve`); ``any_client``: no allow list, any
        client that knows the controller's public key (warned of at start and in hello)."""
        require_key(endpoint, curve_key)
        self.hardware_path = hardware_path
        self.hardware = load_model(hardware_path, HardwareConfig)
        self.endpoint = endpoint
        self.data_dir = (data_dir or Path(self.hardware.data_dir)).expanduser()
        self.protocols_dir = protocols_dir
        self.speed = speed
        self.seed = seed
        self.context = zmq.Context()
        self.guard = None
        if curve_key is not None:
            self.guard = Guard.from_files(self.context, curve_key, allow, any_client=any_client)
        # said at start (rig serve) and in every hello (the launcher shows it)
        self.open_warning = self.guard.open_warning(endpoint, "--any-client") if self.guard else ""
        self._seq = 0
        self._history: list[tuple[bytes, bytes]] = []  # the current session's messages
        self._first_seq = 1
        self._thread: threading.Thread | None = None
        self._inbox: Inbox | None = None
        self._session: dict[str, Any] = {}
        self._last_session_dir: Path | None = None
        self._busy_with = ""  # "session" while one runs
        # the device outside a session: calibration, manual panel (rig.control.bench)
        self._bench = Bench(hardware_path, protocols_dir, self.data_dir, seed, speed)
        self._shutdown = threading.Event()
        self.ready = threading.Event()
        self._pull: zmq.Socket[bytes]
        self._pub: zmq.Socket[bytes]

    # -- the main loop ------------------------------------------------------------------------
    def serve(self) -> None:
        rep = self.context.socket(zmq.ROUTER)  # not REP: garbage from a peer stalled REP
        pub = self.context.socket(zmq.PUB)
        pull = self.context.socket(zmq.PULL)
        for sock in (rep, pub, pull):
            sock.setsockopt(zmq.LINGER, 0)
        rep.setsockopt(zmq.MAXMSGSIZE, MAX_REQUEST_BYTES)  # a bigger frame: its peer is dropped
        listen_safely(rep, pub)  # garbage read as ZMTP 1.0 aborted libzmq (rig.sync.curve)
        pub.setsockopt(zmq.SNDHWM, 0)
        pull.setsockopt(zmq.RCVHWM, 0)
        if self.guard is not None:
            self.guard.protect(rep, "controller requests")
            self.guard.protect(pub, "controller events")
        rep.bind(self.endpoint)
        pub.bind(events_endpoint(self.endpoint))
        pull.bind(INPROC)
        self._pull, self._pub = pull, pub
        poller = zmq.Poller()
        poller.register(rep, zmq.POLLIN)
        poller.register(pull, zmq.POLLIN)
        self.ready.set()
        try:
            while not self._shutdown.is_set():
                ready = dict(poller.poll(200))
                if pull in ready:
                    self._forward(pull, pub)
                if rep in ready:
                    self._answer(rep)
        finally:  # however the loop ends, the device is stopped before the process ends
            self._stop_everything()
            self._forward(pull, pub)
            if self.guard is not None:
                self.guard.stop()
            for sock in (rep, pub, pull):
                sock.close()
            self.context.term()

    def _forward(self, pull: zmq.Socket[bytes], pub: zmq.Socket[bytes]) -> None:
        while True:
            try:
                type_name, body, mono = pull.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self._seq += 1
            if type_name == b"SessionStarted" and self._history:
                self._history.clear()
                self._first_seq = self._seq
            header = encode_header(self._seq, type_name.decode(), float(mono))
            self._history.append((header, body))
            pub.send_multipart([TOPIC, header, body])

    def _stop_everything(self) -> None:
        """Stop the running session (its trials end, the device's force-exit follows) and
        the calibration's pulses, and wait for them: nothing runs on with no host."""
        if self._inbox is not None:  # shut down mid-session: stop it, keep its data
            self._inbox.put(check_command("stop", dict(SIGNAL_STOP)))  # not the operator's
        self._bench.stop()
        if self._thread is not None:
            self._thread.join()

    def _answer(self, router: zmq.Socket[bytes]) -> None:
        """One request, whatever its bytes, answered to its sender. A REQ client's frames
        are [its identity, b"", request]; a DEALER's may lack the empty delimiter."""
        try:
            frames = router.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return
        n = 2 if len(frames) > 1 and frames[1] == b"" else 1
        envelope, body = frames[:n], frames[n:]
        if len(body) == 1:
            reply = self._reply_bytes(body[0])
        else:
            reply = _error(f"a request is one frame of JSON; this one had {len(body)}")
        try:  # a peer that went away is dropped by ZeroMQ; nothing to answer
            router.send_multipart([*envelope, reply], zmq.NOBLOCK)
        except zmq.ZMQError as exc:
            log.warning("a reply could not be sent: %s", exc)

    def _reply_bytes(self, raw: bytes) -> bytes:
        """The reply to one request's bytes; any bytes at all give a reply, never a crash."""
        try:
            request = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # too deep a nesting is a RecursionError
            return _error(f"not JSON: {type(exc).__name__}: {str(exc)[:200]}")
        try:
            return json.dumps(self._reply(request)).encode()
        except Exception as exc:  # e.g. a reply that cannot be encoded: the loop goes on
            log.exception("a reply could not be made")
            return _error(f"{type(exc).__name__}: {exc}")

    def _reply(self, request: object) -> dict[str, Any]:
        if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
            return {"ok": False, "error": 'a request is a JSON object with a "cmd" string'}
        cmd = request["cmd"]
        try:
            return {"ok": True, **self.handle(cmd, request)}
        except (ValueError, OperatorError, LoadError, OSError) as exc:
            return {"ok": False, "error": str(exc)}
        except KeyError as exc:
            return {"ok": False, "error": f"{exc.args[0]!r} is required"}
        except Exception as exc:  # a request must never take the controller (and its session) down
            log.exception("request %r failed", cmd)
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}

    # -- requests -----------------------------------------------------------------------------
    def handle(self, cmd: str, req: dict[str, Any]) -> dict[str, Any]:
        """hello, history, subjects, create_subject, suggest, start, command, annotate,
        shutdown; calibrate (starts the pulses), calibration (how far they are),
        abort_calibration, save_calibration, spot_check, manual (:mod:`rig.control.bench`)."""
        if cmd == "hello":
            return self._hello()
        if cmd == "history":
            since = whole(req, "since", 0)
            start = max(0, since + 1 - self._first_seq)
            return {
                "first_seq": self._first_seq,
                "messages": [[h.decode(), b.decode()] for h, b in self._history[start:]],
            }
        if cmd == "subjects":
            return {"subjects": subjects(self.data_dir)}
        if cmd == "create_subject":
            subject = check_subject_id(str(req.get("subject", "")))
            (self.data_dir / subject).mkdir(parents=True, exist_ok=True)
            with Registry(self.data_dir) as registry:  # `rig subjects list` shows it too
                if registry.subject(subject) is None:
                    registry.add_subject(subject)
            return {"subject": subject}
        if cmd == "suggest":
            chosen = req.get("protocol") or ""  # "": the subject's own, or the default
            if chosen:
                chosen = protocol_in(self.protocols_dir, chosen)
            found = suggest(self.data_dir, str(req["subject"]), self.protocols_dir, chosen)
            return {"suggestion": found.to_json()}
        if cmd == "start":
            return self._start(req)
        if cmd == "resume":
            return self._resume(req)
        if cmd == "command":
            inbox = self._inbox  # once: the session thread may end meanwhile
            if inbox is None:
                raise ValueError("no session is running")
            inbox.put(check_command(str(req.get("action")), dict(req.get("args") or {})))
            return {}
        if cmd == "annotate":
            target = self._last_session_dir
            if req.get("session_dir"):
                target = Path(req["session_dir"]).resolve()
                if self.data_dir.resolve() not in target.parents:
                    raise ValueError(f"{target}: not a session of this rig's data folder")
            if target is None:
                raise ValueError("there is no finished session to annotate")
            weight_of(req)
            fields: dict[str, Any] = {k: req[k] for k in ("weight_g", "notes") if k in req}
            annotate_session(target, fields)
            return {"session_dir": str(target)}
        if cmd in BENCH_REQUESTS:
            reply, self.hardware = self._bench.handle(cmd, req, self.hardware, self._busy())
            return reply
        if cmd == "shutdown":
            self._shutdown.set()
            return {}
        raise ValueError(f"unknown request {cmd!r}")

    def _hello(self) -> dict[str, Any]:
        today = dt.date.today()
        return {
            "rig": self.hardware.name,
            "hardware_file": str(self.hardware_path),
            "data_dir": str(self.data_dir),
            "busy": self._busy(),
            "session": self._session,
            "first_seq": self._first_seq,
            "last_seq": self._seq,
            "protocols": sorted(p.name for p in self.protocols_dir.glob("*.yaml")),
            "warnings": self.hardware.stale_calibrations(today)
            + self.hardware.stale_light_calibrations(today)
            + ([self.open_warning] if self.open_warning else []),
            "valves": {
                name: cal.model_dump(mode="json") for name, cal in self.hardware.valves.items()
            },
            "reward_ul": Protocol.model_fields["reward"].default.volume_ul,
        }

    def _start(self, req: dict[str, Any]) -> dict[str, Any]:
        self._require_free()
        self.hardware = load_model(self.hardware_path, HardwareConfig)
        request = start_request(req, self.hardware, self.hardware_path, self.protocols_dir,
                                self.data_dir, self.speed, self._seed())  # fmt: skip
        return self._launch(request, str(req.get("protocol", "")))

    def _resume(self, req: dict[str, Any]) -> dict[str, Any]:
        """Continue an interrupted session of this data folder (``rig resume``)."""
        self._require_free()
        self.hardware = load_model(self.hardware_path, HardwareConfig)  # as calibrated now
        request = resume_in(self.data_dir, str(req.get("session", "")), self._seed(),
                            self.speed, self.hardware)  # fmt: skip
        meta = request.resume.meta if request.resume else {}
        return self._launch(request, Path(str(meta.get("protocol_file", ""))).name)

    def _seed(self) -> int:
        return self.seed if self.seed is not None else time.time_ns() % 2**31

    def _launch(self, request: SessionRequest, protocol_file: str) -> dict[str, Any]:
        seed, subject = request.seed, request.subject
        self._forward(self._pull, self._pub)  # the last session's last events first
        self._history.clear()
        self._first_seq = self._seq + 1
        self._last_session_dir = None  # set by this session's SessionStarted
        self._inbox = Inbox()
        self._busy_with = "session"
        self._session = {"subject": subject, "protocol": protocol_file, "seed": seed}
        self._thread = threading.Thread(
            target=self._run, args=(request, self._inbox), name="session", daemon=True
        )
        self._thread.start()
        return {"seed": seed}

    def _run(self, request: SessionRequest, inbox: Inbox) -> None:
        push = self.context.socket(zmq.PUSH)
        push.setsockopt(zmq.SNDHWM, 0)
        push.setsockopt(zmq.LINGER, -1)
        push.connect(INPROC)
        ended = False

        def forward(event: object) -> None:
            nonlocal ended
            ended = ended or isinstance(event, SessionEnded)
            if isinstance(event, SessionStarted):
                self._last_session_dir = Path(event.session_dir)
            name = type(event).__name__.encode()
            push.send_multipart([name, encode_body(event), repr(time.monotonic()).encode()])

        def observe(bus: Bus) -> None:
            for cls in EVENT_TYPES.values():
                bus.subscribe(cls, forward)

        try:
            run_session(request, observers=[observe], inbox=inbox)
        except Exception as exc:  # the GUI must hear of it; the session's files say the rest
            if not ended:
                forward(SessionEnded("crashed", {"error": f"{type(exc).__name__}: {exc}"}))
        finally:
            push.close()
            self._inbox = None
            self._busy_with = ""

    def _require_free(self) -> None:
        if self._busy():
            raise ValueError(f"the rig is busy ({self._busy()})")

    def _busy(self) -> str:
        """What the rig is doing: "session", "calibration", "manual: ..." or "" (free)."""
        return self._busy_with or self._bench.busy()
