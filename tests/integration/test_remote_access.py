"""CURVE on everything that listens beyond loopback: keys made and rotated by one command
each, the controller and the microscope bridge refusing (and logging) peers without the
right keys, and refusing to listen beyond loopback without a key."""

from __future__ import annotations

import logging
import shutil
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq

from rig.cli import main
from rig.control.client import ControllerClient, ControllerError, EventStream
from rig.control.server import Controller
from rig.sync.backends import FakeBackend
from rig.sync.bridge import Bridge
from rig.sync.curve import CurveError, load_public, load_secret
from rig.sync.link import ScopeLink
from tests.scope.test_sync import wait

pytestmark = [pytest.mark.realtime]


def _keys(folder: Path, *names: str) -> None:
    for name in names:
        assert main(["keys", "new", name, "--dir", str(folder)]) == 0


def test_keys_are_made_and_rotated_by_one_command_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _keys(tmp_path, "rig1")
    public, _ = load_secret(tmp_path / "rig1.key_secret")
    assert load_public(tmp_path / "rig1.key") == public
    assert stat.S_IMODE((tmp_path / "rig1.key_secret").stat().st_mode) == 0o600
    assert main(["keys", "new", "rig1", "--dir", str(tmp_path)]) == 1  # never overwritten
    assert main(["keys", "rotate", "rig1", "--dir", str(tmp_path)]) == 0
    assert "kept" in capsys.readouterr().out
    assert load_secret(tmp_path / "rig1.key_secret")[0] != public
    kept = sorted(p.name for p in tmp_path.glob("rig1.key*.*"))
    assert len(kept) == 2 and all(n.startswith(("rig1.key.", "rig1.key_secret.")) for n in kept)
    assert main(["keys", "rotate", "nobody", "--dir", str(tmp_path)]) == 1


def test_nothing_listens_beyond_loopback_without_a_key(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(CurveError, match=r"tcp://0\.0\.0\.0:5599 listens beyond this computer"):
        Controller(root / "hardware_configs/sim.yaml", "tcp://0.0.0.0:5599")
    assert main(["serve", "--endpoint", "tcp://*:5598", "--data-dir", str(tmp_path)]) == 1
    assert "give --curve-key FILE" in capsys.readouterr().err
    with pytest.raises(CurveError):
        Bridge("tcp://*:5597", FakeBackend(), tmp_path / "log.jsonl")


@pytest.fixture
def secured(root: Path, tmp_path: Path) -> Iterator[tuple[str, Path, Controller]]:
    """A controller with a key and an allow list holding gui1 (not intruder)."""
    keys = tmp_path / "keys"
    _keys(keys / "server", "rig1")
    _keys(keys / "allow", "gui1")
    _keys(keys / "others", "intruder")
    hardware = tmp_path / "sim.yaml"
    shutil.copy(root / "hardware_configs/sim.yaml", hardware)
    endpoint = f"ipc://{tempfile.mkdtemp(prefix='rig-test-')}/ctl"
    controller = Controller(hardware, endpoint, data_dir=tmp_path / "data",
                            protocols_dir=root / "protocols", speed=50.0,
                            curve_key=keys / "server/rig1.key_secret",
                            allow=keys / "allow")  # fmt: skip
    thread = threading.Thread(target=controller.serve, daemon=True)
    thread.start()
    assert controller.ready.wait(10)
    yield endpoint, keys, controller
    controller.handle("shutdown", {})
    thread.join(30)
    assert not thread.is_alive()


def test_the_controller_lets_in_only_allowed_guis_and_logs_the_rest(
    secured: tuple[str, Path, Controller], caplog: pytest.LogCaptureFixture
) -> None:
    endpoint, keys, controller = secured
    server = keys / "server/rig1.key"
    gui = ControllerClient(endpoint, timeout_s=5,
                           curve=(keys / "allow/gui1.key_secret", server))  # fmt: skip
    assert gui.request("hello")["rig"] == "sim"
    stream = EventStream(gui)  # the event socket is protected too, and lets it in
    gui.request("create_subject", subject="m1")
    gui.request("start", subject="m1", protocol="tactile_T1.yaml", trials=2, weight_g=20)
    types: list[str] = []
    assert wait(lambda: types.extend(m.type for m in stream.take()) or "SessionEnded" in types,
                timeout=60)  # fmt: skip
    assert types.count("TrialCompleted") == 2 and stream.errors == []
    stream.close()
    caplog.set_level(logging.WARNING, logger="rig.sync.curve")
    tries = {
        "no key": ControllerClient(endpoint, timeout_s=1),
        "unknown key": ControllerClient(
            endpoint, timeout_s=1, curve=(keys / "others/intruder.key_secret", server)
        ),
        "wrong server key": ControllerClient(
            endpoint, timeout_s=1, curve=(keys / "allow/gui1.key_secret", keys / "allow/gui1.key")
        ),
    }
    for client in tries.values():
        with pytest.raises(ControllerError, match="did not answer"):
            client.request("hello")
        client.close()
    guard = controller.guard
    assert guard is not None
    assert wait(lambda: len(guard.refused) >= 3)
    assert any("not in the allow list" in r for r in guard.refused)
    assert any("handshake failed" in r for r in guard.refused)
    logged = [r.getMessage() for r in caplog.records if r.name == "rig.sync.curve"]
    assert any(m.startswith("refused a peer: ") for m in logged)
    gui.close()


def test_the_bridge_lets_in_only_allowed_rigs(tmp_path: Path) -> None:
    _keys(tmp_path / "bridge", "scope-pc")
    _keys(tmp_path / "allow", "rig1")
    _keys(tmp_path / "others", "rig2")
    secret = load_secret(tmp_path / "bridge/scope-pc.key_secret")[1]
    allowed = {load_public(tmp_path / "allow/rig1.key")}
    ep = f"ipc://{tempfile.mkdtemp(prefix='rig-sync-')}/bridge"
    bridge = Bridge(ep, FakeBackend(), tmp_path / "log.jsonl", curve_secret_key=secret,
                    allowed=allowed)  # fmt: skip
    thread = threading.Thread(target=bridge.serve, daemon=True)
    thread.start()
    server = zmq.curve_public(secret)
    own1 = load_secret(tmp_path / "allow/rig1.key_secret")[1]
    own2 = load_secret(tmp_path / "others/rig2.key_secret")[1]
    rig1 = ScopeLink(ep, curve_server_key=server, curve_secret_key=own1)
    rig2 = ScopeLink(ep, curve_server_key=server, curve_secret_key=own2)
    try:
        assert wait(lambda: rig1.connected)
        assert not wait(lambda: rig2.connected, timeout=1.5)
        assert bridge.guard is not None
        assert any("not in the allow list" in r for r in bridge.guard.refused)
    finally:
        rig1.close()
        rig2.close()
        bridge.stop()
        thread.join(5)


@pytest.mark.parametrize("any_client", [False, True])
def test_keys_without_an_allow_list_let_in_only_the_controller_s_own_pair(
    root: Path, tmp_path: Path, any_client: bool
) -> None:
    """Before: --curve-key without --allow let in any client that had the public key.
    Now only the controller's own pair (the GUI that started it) gets in, unless the
    operator asks for --any-client, which is warned of in every hello."""
    _keys(tmp_path / "server", "rig1")
    _keys(tmp_path / "others", "gui9")
    endpoint = f"ipc://{tempfile.mkdtemp(prefix='rig-test-')}/ctl"
    controller = Controller(root / "hardware_configs/sim.yaml", endpoint,
                            data_dir=tmp_path / "data", protocols_dir=root / "protocols",
                            curve_key=tmp_path / "server/rig1.key_secret",
                            any_client=any_client)  # fmt: skip
    thread = threading.Thread(target=controller.serve, daemon=True)
    thread.start()
    assert controller.ready.wait(10)
    server = tmp_path / "server/rig1.key"
    own = ControllerClient(endpoint, timeout_s=5, curve=(tmp_path / "server/rig1.key_secret",
                                                         server))  # fmt: skip
    other = ControllerClient(endpoint, timeout_s=2, curve=(tmp_path / "others/gui9.key_secret",
                                                           server))  # fmt: skip
    warnings = own.request("hello")["warnings"]
    if any_client:
        assert other.request("hello")["rig"] == "sim"
        assert any("lets in ANY peer" in w and "--any-client" in w for w in warnings)
    else:
        with pytest.raises(ControllerError, match="did not answer"):
            other.request("hello")
        assert not any("lets in ANY peer" in w for w in warnings)
    own.request("shutdown")
    thread.join(30)
    own.close()
    other.close()
