"""A lick-port board as the session runner's :class:`~rig.devices.base.Device`.

Unlike the Bpod, the board reports everything it does (trial starts, states, inputs,
outputs, trial ends), each stamped by its own ``micros()`` clock, so nothing is replayed
on the host: the records are the board's. Device times are seconds from the board's
clock at :meth:`LickportDevice.open`. While a trial runs or is queued the host sends a
heartbeat every ``heartbeat_s``; the board closes its valves and stops if they stop.
A board silent for ``silence_s`` (it answers every heartbeat) is lost.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from rig.bus import DeviceEvent
from rig.devices.base import PollInterrupted
from rig.devices.lickport import codec
from rig.devices.lickport.client import DeviceLost, LickportClient, LickportError
from rig.devices.lickport.compiler import Limits, compile_blob
from rig.fsm.model import StateMachine
from rig.schema.hardware import HardwareConfig

WATCHDOG = 11


class LickportDevice:
    def __init__(
        self,
        client: LickportClient,
        *,
        clock: Callable[[], float] = time.monotonic,
        heartbeat_s: float = 0.2,
        silence_s: float = 1.0,
    ) -> None:
        self.client, self.clock = client, clock
        self.heartbeat_s, self.silence_s = heartbeat_s, silence_s
        self.limits = Limits()
        self.valve_cuts: list[DeviceEvent] = []
        self.board_errors: list[str] = []
        self._sent: deque[tuple[int, StateMachine]] = deque()  # sent, not started yet
        self._machine: StateMachine | None = None
        self._trial = 0
        self._off: set[str] = set()  # valves the board cut: their machine close is a repeat
        self._zero_us = 0
        self._host_zero = clock()
        self._last_heard = self._last_beat = clock()
        self._wake = threading.Event()
        self._lost: str | None = None

    def open(self, hardware: HardwareConfig) -> codec.Hello:
        """Hello, configuration from the hardware config, and the clock's zero."""
        hello = self.client.connect()
        settings = hardware.lickport
        if hello.board != settings.board:  # the pre-flight check held machines to the config's
            raise LickportError(
                f"{self.client.transport.name}: the board is an Arduino {hello.board} "
                f"(firmware {hello.firmware}); the hardware config says lickport.board: "
                f"{settings.board}"
            )
        self.limits = Limits(hello.max_states, hello.max_transitions, hello.max_outputs)
        self.client.configure(
            debounce_us=round(settings.debounce_ms * 1000),
            heartbeat_ms=round(settings.heartbeat_timeout_s * 1000),
            max_open_ms=(
                round(hardware.valves["valve_left"].max_open_s * 1000),
                round(hardware.valves["valve_right"].max_open_s * 1000),
            ),
            bitcode=settings.bitcode,
        )
        self._zero_us = self.client.status().t_us
        self._host_zero = self._last_heard = self.clock()
        return hello

    # -- the Device interface -------------------------------------------------------------------
    @property
    def idle(self) -> bool:
        return self._machine is None and not self._sent

    def queue(self, machine: StateMachine, trial: int) -> None:
        blob = compile_blob(machine, self.limits)
        self._beat(force=True)
        self.client.send_machine(blob, trial)
        self._sent.append((trial, machine))

    def abort(self) -> list[int]:
        ack = self.client.abort()
        dropped = [trial for trial, _ in self._sent if trial == ack.arg2]
        self._sent = deque((t, m) for t, m in self._sent if t != ack.arg2)
        return dropped

    def interrupt(self) -> None:
        self._wake.set()

    def poll(self) -> list[DeviceEvent]:
        while True:
            if self._lost:
                raise DeviceLost(self._lost)
            if not self.idle:
                self._beat()
            messages = self.client.poll(0.05)
            if messages:
                self._last_heard = self.clock()
            events = [e for m in messages for e in self._handle(m)]
            if events:
                return events
            if not messages:
                if self.idle:
                    return []
                if self.clock() - self._last_heard > self.silence_s:
                    raise DeviceLost(
                        f"{self.client.transport.name}: no word from the lick-port board "
                        f"for {self.silence_s} s"
                    )
                if self._wake.is_set():
                    self._wake.clear()
                    raise PollInterrupted

    def close(self) -> None:
        self.client.close()

    # -- board messages -> device events -------------------------------------------------------
    def _beat(self, force: bool = False) -> None:
        now = self.clock()
        if force or now - self._last_beat >= self.heartbeat_s:
            self._last_beat = now
            self.client.heartbeat()

    def _handle(self, message: codec.Message) -> list[DeviceEvent]:
        if isinstance(message, codec.Event):
            return self._event(message)
        if isinstance(message, codec.BoardError):
            text = f"{self.client.transport.name}: {message.describe()}"
            self.board_errors.append(text)
            if message.code == WATCHDOG:
                self._lost = text
            elif message.of in ("Q", "U"):
                raise LickportError(text)
        return []

    def _event(self, e: codec.Event) -> list[DeviceEvent]:
        t = round((e.t_us - self._zero_us) / 1e6, 6)
        host_t = round(self.clock() - self._host_zero, 6)
        if e.kind == "trial_start":
            if not self._sent or self._sent[0][0] != e.value:
                raise LickportError(
                    f"{self.client.transport.name}: the board started trial {e.value}, "
                    f"the host expected {self._sent[0][0] if self._sent else 'none'}"
                )
            self._trial, self._machine = self._sent.popleft()
            self._off.clear()
            return [DeviceEvent(self._trial, "trial_start", "", t, host_t=host_t)]
        trial = self._trial if self._machine is not None else 0
        if e.kind == "state":
            assert self._machine is not None
            name = self._machine.states[e.value].name
            return [DeviceEvent(trial, "state", name, t, host_t=host_t)]
        if e.kind == "input":
            return [DeviceEvent(trial, "input", e.name, t, host_t=host_t)]
        if e.kind == "valve_cut":
            self._off.add(e.name)
            cut = DeviceEvent(trial, "output", e.name, t, 0, None, host_t)
            self.valve_cuts.append(cut)
            return [cut]
        if e.kind == "output":
            if e.value == 0 and e.name in self._off:
                self._off.discard(e.name)
                return []
            freq = float(e.freq_hz) if e.freq_hz else None
            return [DeviceEvent(trial, "output", e.name, t, e.value, freq, host_t)]
        # trial_end
        self._machine = None
        return [DeviceEvent(trial, "trial_end", "", t, host_t=host_t)]
