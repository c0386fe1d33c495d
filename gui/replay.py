"""A simulated session's messages, as the controller would publish them (no Qt here).

Runs a session on virtual time (seconds for thousands of trials) and passes every bus
event through the wire format, so the live view can be fed, measured and photographed
with real trials without waiting for them.
"""

from __future__ import annotations

import time
from pathlib import Path

from rig.bus import Bus
from rig.control.wire import EVENT_TYPES, Message, decode, encode_body, encode_header
from rig.schema.hardware import HardwareConfig
from rig.schema.loader import load_model
from rig.schema.protocol import Protocol
from rig.session.session import SessionRequest, run_session


def simulated_messages(
    data_dir: Path,
    *,
    trials: int,
    seed: int = 1,
    subject: str = "demo-mouse",
    protocol: Path = Path("protocols/continual_learning.yaml"),
    rig: Path = Path("hardware_configs/sim.yaml"),
    weight_g: float | None = None,
) -> list[Message]:
    messages: list[Message] = []

    def capture(event: object) -> None:
        header = encode_header(len(messages) + 1, type(event).__name__, time.monotonic())
        messages.append(decode(header, encode_body(event)))

    def observe(bus: Bus) -> None:
        for cls in EVENT_TYPES.values():
            bus.subscribe(cls, capture)

    request = SessionRequest(
        protocol=load_model(protocol, Protocol),
        hardware=load_model(rig, HardwareConfig),
        subject=subject,
        trials=trials,
        seed=seed,
        data_dir=data_dir,
        operator="demo",
        protocol_path=str(protocol),
        hardware_path=str(rig),
        weight_g=weight_g,
    )
    run_session(request, observers=[observe])
    return messages
