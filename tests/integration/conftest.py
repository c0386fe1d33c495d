"""The integration tests' controller: a real one, in a thread, on a private ipc endpoint."""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.control.client import ControllerClient
from rig.control.server import Controller


@pytest.fixture
def client(root: Path, tmp_path: Path) -> Iterator[ControllerClient]:
    hardware = tmp_path / "sim.yaml"
    shutil.copy(root / "hardware_configs/sim.yaml", hardware)
    endpoint = f"ipc://{tempfile.mkdtemp(prefix='rig-test-')}/ctl"
    controller = Controller(hardware, endpoint, data_dir=tmp_path / "data",
                            protocols_dir=root / "protocols", speed=50.0, seed=5)  # fmt: skip
    thread = threading.Thread(target=controller.serve, daemon=True)
    thread.start()
    assert controller.ready.wait(10)
    c = ControllerClient(endpoint, timeout_s=10)
    yield c
    c.request("shutdown")
    thread.join(30)
    c.close()
    assert not thread.is_alive()
