"""The Bpod client: connect, identify, configure, send state machines, read what comes back.

It talks through any :class:`~rig.transport.Transport`. Set-up follows what Sanworks' own
host does (reference section 2): the handshake (discovery bytes around it tolerated), the
firmware version, the hardware description, the event allocation (``'%'``), the inputs
to enable (``'E'``). During a session it only writes ``'C'`` messages with RunASAP and
reads. A transport that fails, or a device that stays silent past the time its own state
machine says an event is due, raises :class:`DeviceLost`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rig.devices.bpod import commands as cmd
from rig.devices.bpod.decoder import Decoder, Message, Reply, ReplyKind
from rig.devices.bpod.hardware import BpodHardware
from rig.transport.base import Transport, TransportClosed

REPLY_TIMEOUT_S = 1.0
HANDSHAKE_DEAF_S = 0.12  # the firmware busy-waits 100 ms after '6'


class BpodError(RuntimeError):
    """The Bpod did not answer as the protocol says."""


class DeviceLost(BpodError):
    """The Bpod is gone (unplugged, closed) or stopped answering."""


class BpodClient:
    def __init__(
        self,
        transport: Transport,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.transport = transport
        self.clock, self.sleep = clock, sleep
        self.decoder = Decoder()
        self.hardware: BpodHardware | None = None
        self.garbage: list[Message] = []
        self.modules: tuple[object, ...] = ()
        self._backlog: list[Message] = []

    # -- set-up -------------------------------------------------------------------------------
    def connect(self, inputs: list[str] | None = None) -> BpodHardware:
        """Handshake, identify and configure; ``inputs``: Bpod inputs to enable (``Port1``)."""
        self._drain()
        self._request(cmd.HANDSHAKE, "handshake")
        self.sleep(HANDSHAKE_DEAF_S)  # set-up only: the device cannot listen before
        version = self._request(cmd.FIRMWARE_VERSION, "firmware")
        assert isinstance(version, tuple)
        firmware, machine_type = int(version[0]), int(version[1])
        if firmware not in (22, 23):
            raise BpodError(
                f"{self.transport.name}: firmware {firmware} (this client speaks 22, 23)"
            )
        reply = self._request(cmd.HARDWARE, "hardware", firmware=firmware)
        assert isinstance(reply, BpodHardware)
        hw = BpodHardware(**{**reply.__dict__, "machine_type": machine_type})
        hw = hw.with_allocation(hw.default_allocation())
        if self._request(cmd.event_allocation(hw.allocation), "ack") != 1:
            raise BpodError(f"{self.transport.name}: event allocation refused")
        wanted = set(inputs or ())
        flags = [
            letter in "BWF" or name in wanted
            for name, letter in zip(hw.input_names(), hw.inputs, strict=True)
        ]
        self._request(cmd.enable_inputs(flags), "ack")
        modules = self._request(cmd.MODULES, "modules", modules=hw.serial_inputs.count("U"))
        assert isinstance(modules, tuple)
        self.modules = modules  # per module port: None, or its name, firmware, events
        self.decoder = Decoder(events=len(hw.event_names()))
        self.hardware = hw
        return hw

    def _drain(self) -> None:
        """Drop what is waiting (an unconnected Bpod keeps sending 0xDE: read once, not
        until it stops)."""
        self.transport.read(0.05)

    def _request(
        self, command: bytes, kind: ReplyKind, firmware: int = 23, modules: int = 0
    ) -> object:
        self.decoder.expect(kind, firmware=firmware, modules=modules)
        self.write(command)
        deadline = self.clock() + REPLY_TIMEOUT_S
        while self.clock() < deadline:
            for message in self._feed(self._read(0.05)):
                if isinstance(message, Reply) and message.kind == kind:
                    return message.value
                self.garbage.append(message)
        raise DeviceLost(f"{self.transport.name}: no reply to {command[:1]!r} within 1 s")

    # -- a session ---------------------------------------------------------------------------
    def send_machine(self, message: bytes) -> None:
        """A ``'C'`` message with RunASAP: it starts now, or when the running trial ends."""
        self.decoder.expect_trial(new_machine=True)
        self.write(message)

    def poll(self, timeout: float) -> list[Message]:
        backlog, self._backlog = self._backlog, []
        return backlog + self._feed(self._read(timeout))

    def override(self, output: str, value: int) -> None:
        """Drive an output by its Bpod name (``Valve1``, ``PWM3``) until the trial ends."""
        assert self.hardware is not None, "connect() first"
        self.write(cmd.override(self.hardware.output_index(output), value))

    def soft_code(self, code: int) -> None:
        """A USB soft event (0-based) into the running state machine."""
        self.write(cmd.soft_code(code))

    def echo_soft_code(self, code: int) -> None:
        """The Bpod sends the code back as a soft-code frame (a link check)."""
        self.write(cmd.echo_soft_code(code))

    def disconnect(self) -> None:
        try:
            self.write(cmd.FORCE_EXIT + cmd.DISCONNECT)
        finally:
            self.transport.close()

    # -- bytes ---------------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        try:
            self.transport.write(data)
        except TransportClosed as exc:
            raise DeviceLost(str(exc)) from None

    def _read(self, timeout: float) -> bytes:
        try:
            return self.transport.read(timeout)
        except TransportClosed as exc:
            raise DeviceLost(str(exc)) from None

    def _feed(self, data: bytes) -> list[Message]:
        return self.decoder.feed(data) if data else []
