"""CURVE for every socket that listens beyond loopback (the controller's GUI endpoint, the
microscope bridge): keys, the servers' guard, the clients' keys.

Keys are ZeroMQ's certificate files (``zmq.auth``): ``NAME.key`` (public, to give to the
other side) and ``NAME.key_secret`` (secret, mode 600). ``rig keys new NAME`` makes a pair;
``rig keys rotate NAME`` keeps the old pair as ``NAME.key.<stamp>`` /
``NAME.key_secret.<stamp>`` and makes a new one.

A server with a secret key accepts only peers that complete the CURVE handshake (they know
its public key); with an allow folder (the clients' ``.key`` files) only those clients.
Every refused peer is logged (``rig.sync.curve``) and counted in :attr:`Guard.refused`: a
handshake that fails (no key, a wrong server key) by the socket's monitor, an unknown
client key by the ZAP handler.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils.monitor import recv_monitor_message

log = logging.getLogger(__name__)
LOOPBACK = ("tcp://127.0.0.1:", "tcp://localhost:", "tcp://[::1]:", "ipc://", "inproc://")
FAILED: dict[int, str] = {  # the ZAP handler logs the allow list's refusals itself
    int(zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL): "handshake failed",
    int(zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL): "handshake failed (no CURVE, or a wrong key)",
}


ZAP_DOMAIN = "rig"  # every listening socket's: see listen_safely


def listen_safely(*socks: zmq.Socket[Any]) -> None:
    """Before ``sock`` binds: a ZAP domain, so peers speaking ZMTP 1.0 or 2.0 are refused.
    libzmq reads any bytes that do not start with a ZMTP 3 greeting as ZMTP 1.0, and a
    stream of random bytes there aborted the whole process (libzmq 4.3.5: "Resource
    temporarily unavailable (src/zmtp_engine.cpp:422)"). With no ZAP handler running (no
    CURVE), the NULL mechanism still lets ZMTP 3 peers in."""
    for sock in socks:
        sock.zap_domain = ZAP_DOMAIN.encode()


class CurveError(ValueError):
    """A key file that cannot be used, or a listening address that needs one."""


def is_loopback(endpoint: str) -> bool:
    return endpoint.startswith(LOOPBACK)


def require_key(endpoint: str, secret_file: Path | None, option: str = "--curve-key") -> None:
    """Refuse to listen beyond loopback without a secret key."""
    if secret_file is None and not is_loopback(endpoint):
        raise CurveError(
            f"{endpoint} listens beyond this computer: give {option} FILE (a secret key; "
            "make one with `rig keys new NAME`), or listen on tcp://127.0.0.1"
        )


def new_keys(folder: Path, name: str) -> tuple[Path, Path]:
    """A new key pair in ``folder``: (public file, secret file)."""
    folder.mkdir(parents=True, exist_ok=True)
    public, secret = zmq.auth.create_certificates(str(folder), name)
    os.chmod(secret, 0o600)
    return Path(public), Path(secret)


def rotate_keys(folder: Path, name: str) -> tuple[Path, Path, list[Path]]:
    """Keep the current pair under a dated name, make a new one: (public, secret, kept)."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    kept = []
    for suffix in (".key", ".key_secret"):
        old = folder / f"{name}{suffix}"
        if old.exists():
            kept.append(old.rename(old.with_name(f"{old.name}.{stamp}")))
    if not kept:
        raise CurveError(
            f"{folder / (name + '.key')}: no key to rotate; make one with rig keys new"
        )
    return (*new_keys(folder, name), kept)


def load_secret(path: Path) -> tuple[bytes, bytes]:
    """(public, secret) from a ``.key_secret`` file."""
    public, secret = _load(path)
    if secret is None:
        raise CurveError(f"{path}: a public key; the secret one is {path.name}_secret")
    return public, secret


def load_secret_text(path: Path) -> bytes:
    """A secret key from a key file, or from a file holding the bare Z85 text."""
    try:
        return load_secret(path)[1]
    except CurveError:
        text = path.read_bytes().strip()
        if len(text) != 40:
            raise CurveError(f"{path}: neither a secret key file nor a 40-character key") from None
        return text


def load_public(path: Path) -> bytes:
    return _load(path)[0]


def _load(path: Path) -> tuple[bytes, bytes | None]:
    try:
        public, secret = zmq.auth.load_certificate(str(path))
    except (OSError, ValueError) as exc:
        raise CurveError(f"{path}: not a key file ({exc})") from None
    if public is None:
        raise CurveError(f"{path}: no public key in it")
    return public, secret


def client_keys(sock: zmq.Socket[Any], secret_file: Path, server_public_file: Path) -> None:
    """Make ``sock`` (before it connects) a CURVE client with these keys."""
    public, secret = load_secret(secret_file)
    sock.curve_publickey, sock.curve_secretkey = public, secret
    sock.curve_serverkey = load_public(server_public_file)


class Guard:
    """The server side: CURVE on the listening sockets, the allow list, refusals logged."""

    def __init__(
        self, context: zmq.Context[Any], secret: bytes, allowed: set[bytes] | None = None
    ) -> None:
        """``secret``: the server's secret key (Z85); ``allowed``: the clients' public keys
        (Z85) let in, or None for any client that knows the server's public key."""
        self._secret = secret
        self.public = zmq.curve_public(secret)
        # with an allow list: those keys, and this server's own (the GUI that started it)
        self.allowed = None if allowed is None else {*allowed, self.public}
        self.refused: list[str] = []
        self._lock = threading.Lock()
        self._logged: dict[str, float] = {}  # a retrying peer is logged once a minute
        self._protected: list[tuple[zmq.Socket[Any], threading.Thread]] = []
        self.auth = ThreadAuthenticator(context)
        self.auth.start()
        self.auth.configure_curve_callback(ZAP_DOMAIN, credentials_provider=self)

    @classmethod
    def from_files(
        cls,
        context: zmq.Context[Any],
        secret_file: Path,
        allow: Path | None = None,
        *,
        any_client: bool = False,
    ) -> Guard:
        """From a secret key file and a folder of the allowed clients' ``.key`` files.
        Without a folder only this server's own key pair gets in (the GUI that started it),
        unless ``any_client``: then any client that knows the server's public key."""
        if any_client:
            allowed = None
        elif allow is None:
            allowed = set()
        else:
            allowed = {load_public(p) for p in sorted(allow.glob("*.key"))}
        return cls(context, load_secret(secret_file)[1], allowed)

    def callback(self, domain: str, key: bytes) -> bool:
        """ZAP: is this client allowed? (``key`` in Z85)."""
        ok = self.allowed is None or key in self.allowed
        if not ok:
            self._refuse(f"client key {key.decode()} is not in the allow list")
        return ok

    def open_warning(self, endpoint: str, option: str) -> str:
        """A warning when there is no allow list (``option`` opened it), else ``""``."""
        if self.allowed is not None:
            return ""
        return (
            f"{endpoint} lets in ANY peer that has this server's public key ({option}): "
            "anyone who copies it gets in; give --allow DIR instead"
        )

    def protect(self, sock: zmq.Socket[Any], name: str) -> None:
        """Make ``sock`` (before it binds) a CURVE server; watch its handshakes."""
        listen_safely(sock)
        sock.curve_server = True
        sock.curve_secretkey = self._secret
        monitor = sock.get_monitor_socket(
            zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
            | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
            | zmq.EVENT_HANDSHAKE_FAILED_AUTH
        )
        thread = threading.Thread(target=self._watch, args=(monitor, name), daemon=True)
        thread.start()
        self._protected.append((sock, thread))

    def _watch(self, monitor: zmq.Socket[Any], name: str) -> None:
        try:
            while True:
                event = recv_monitor_message(monitor)
                if event["event"] == zmq.EVENT_MONITOR_STOPPED:
                    return
                what = FAILED.get(int(event["event"]))
                if what is not None:
                    self._refuse(f"{name} ({event['endpoint'].decode()}): {what}")
        except zmq.ZMQError:
            return  # the context is ending
        finally:
            monitor.close(linger=0)

    def _refuse(self, why: str) -> None:
        now = time.monotonic()
        with self._lock:
            self.refused.append(why)
            quiet = now - self._logged.get(why, -60.0) < 60.0
            if not quiet:
                self._logged[why] = now
        if not quiet:
            log.warning("refused a peer: %s", why)

    def stop(self) -> None:
        """Before the sockets close: stop watching them, stop the ZAP handler."""
        for sock, thread in self._protected:
            with contextlib.suppress(zmq.ZMQError):  # already closed
                sock.disable_monitor()
            thread.join(1.0)
        self.auth.stop()
