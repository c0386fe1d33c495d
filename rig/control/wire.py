"""The typed bus events as ZeroMQ messages, and back.

A published message is three frames: ``b"ev"``, a header and a body, both JSON. The
header holds the controller's sequence number (``seq``, one per message, never reused
while the controller runs), the event's type name and ``mono``, the controller's
``time.monotonic()`` when the event was published (on one machine, the GUI's clock too:
the event-to-screen latency is measured with it). The body is the event's fields;
:class:`rig.bus.DeviceEvents` is packed as rows ``[trial, kind, name, t, value, freq_hz,
host_t]``, as it is most of the traffic.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from rig import bus

TOPIC = b"ev"
EVENT_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        bus.DeviceEvents,
        bus.SessionStarted,
        bus.TrialQueued,
        bus.TrialCompleted,
        bus.ContextSwitched,
        bus.OperatorActed,
        bus.RunnerStatus,
        bus.TrialAborted,
        bus.ScopeAlarm,
        bus.SessionEnded,
        bus.SubscriberFailed,
    )
}


class WireError(ValueError):
    """A message that is not one of ours; the text says which frame and field."""


@dataclass(frozen=True, slots=True)
class Message:
    seq: int
    type: str
    mono: float
    event: Any


def encode_body(event: object) -> bytes:
    if isinstance(event, bus.DeviceEvents):
        rows = [[e.trial, e.kind, e.name, e.t, e.value, e.freq_hz, e.host_t] for e in event.events]
        return json.dumps({"events": rows}, separators=(",", ":")).encode()
    if not dataclasses.is_dataclass(event) or type(event).__name__ not in EVENT_TYPES:
        raise WireError(f"{type(event).__name__} is not an event that crosses the wire")
    return json.dumps(dataclasses.asdict(event), separators=(",", ":")).encode()  # type: ignore[arg-type]


def encode_header(seq: int, type_name: str, mono: float) -> bytes:
    return json.dumps({"seq": seq, "type": type_name, "mono": mono}).encode()


def decode(header: bytes, body: bytes) -> Message:
    try:
        head = json.loads(header)
        seq, type_name, mono = int(head["seq"]), str(head["type"]), float(head["mono"])
    except (ValueError, KeyError, TypeError) as exc:
        raise WireError(f"header frame {header[:80]!r}: {exc}") from None
    cls = EVENT_TYPES.get(type_name)
    if cls is None:
        raise WireError(f"message {seq}: unknown event type {type_name!r}")
    try:
        data = json.loads(body)
        if cls is bus.DeviceEvents:
            event: Any = bus.DeviceEvents(tuple(bus.DeviceEvent(*row) for row in data["events"]))
        else:
            event = cls(**data)
    except (ValueError, KeyError, TypeError) as exc:
        raise WireError(f"message {seq} ({type_name}): body does not fit: {exc}") from None
    return Message(seq, type_name, mono, event)
