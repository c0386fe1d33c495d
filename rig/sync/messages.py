"""Typed, versioned messages between the rig and the microscope's bridge.

On the wire a message is two ZeroMQ frames: its type name and its JSON body (which holds
``v``, the protocol version). Anything else (a missing frame, bad JSON, an unknown type, a
body that does not fit, more than ``MAX_BYTES``) is refused with :class:`BadMessage`;
both sides drop such messages and count them, and never stop for them.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

PROTOCOL_VERSION = 1
MAX_BYTES = 64 * 1024


class BadMessage(ValueError):
    """A message that is not one of ours; the text says what is wrong with it."""


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    v: Literal[1] = 1


class Hello(Message):
    rig_id: str
    protocol_version: int = PROTOCOL_VERSION
    t: float  # the sender's clock (time.time), for a first estimate of the offset


class Welcome(Message):
    bridge_id: str
    protocol_version: int = PROTOCOL_VERSION
    t: float
    offset_s: float  # bridge clock - rig clock, from the Hello's stamp


class Heartbeat(Message):
    t: float


class SessionStart(Message):
    session: str
    subject: str


class SessionStop(Message):
    session: str
    status: str


class TrialStart(Message):
    trial: int
    uid: str  # session/trial, unique across sessions
    context: str
    instructed: str
    device_t: float


class Epoch(Message):
    trial: int
    name: str  # sample, delay, go
    device_t: float


class TrialEnd(Message):
    trial: int
    device_t: float
    outcome: str


class Arm(Message):
    id: int
    file_stem: str


class StartAcquisition(Message):
    id: int


class StopAcquisition(Message):
    id: int


class StatusRequest(Message):
    id: int


class Status(Message):
    ref: int
    acquiring: bool
    acquisition: int
    file_stem: str
    frames_acquired: int
    frames_dropped: int


class Ack(Message):
    ref: int


class RemoteError(Message):
    ref: int | None  # the request's id, when there was one
    code: str
    message: str


TYPES: dict[str, type[Message]] = {
    cls.__name__: cls
    for cls in (
        Hello, Welcome, Heartbeat, SessionStart, SessionStop, TrialStart, Epoch, TrialEnd,
        Arm, StartAcquisition, StopAcquisition, StatusRequest, Status, Ack, RemoteError,
    )
}  # fmt: skip
REQUESTS = (Arm, StartAcquisition, StopAcquisition, StatusRequest)


def encode(message: Message) -> list[bytes]:
    return [type(message).__name__.encode(), message.model_dump_json().encode()]


def decode(frames: list[bytes]) -> Message:
    if len(frames) != 2:
        raise BadMessage(f"{len(frames)} frames, not 2 (type, body)")
    size = len(frames[0]) + len(frames[1])
    if size > MAX_BYTES:
        raise BadMessage(f"{size} bytes, more than {MAX_BYTES}")
    name = frames[0].decode(errors="replace")
    cls = TYPES.get(name)
    if cls is None:
        raise BadMessage(f"unknown message type {name[:40]!r}")
    try:
        data: Any = json.loads(frames[1])
        return cls.model_validate(data)
    except (ValueError, ValidationError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else None
        where = f" {'.'.join(map(str, first['loc']))}: {first['msg']}" if first else f" {exc}"
        raise BadMessage(f"{name}:{where}") from None
