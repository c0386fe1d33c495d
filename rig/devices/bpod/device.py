"""A Bpod as the session runner's :class:`~rig.devices.base.Device`.

Trials are compiled and sent with RunASAP, so the Bpod starts trial n+1 in the cycle after
trial n exits. The Bpod reports only events (inputs, timers, Tup) with cycle counts; the
states and outputs the runner records are replayed on the host by the reference executor
(a *shadow*), fed the device's own input events at the device's own cycles. Every event
the Bpod reports must then be one the shadow expects at that cycle (its Tups, its pulse
ends): where they differ, the difference is kept in :attr:`BpodDevice.disagreements` and
the device's timing wins. Device times come from the Bpod's clock; host receive times are
kept beside them.

A Bpod that falls silent for ``silence_s`` past the time its running state machine must
report something (a Tup, a pulse end) is lost: :class:`~rig.devices.bpod.client.DeviceLost`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from rig.bus import DeviceEvent
from rig.devices.base import PollInterrupted
from rig.devices.bpod.client import BpodClient, DeviceLost
from rig.devices.bpod.commands import FORCE_EXIT
from rig.devices.bpod.compiler import compile_machine
from rig.devices.bpod.decoder import Events, Garbage, TrialEnd, TrialStart
from rig.devices.bpod.hardware import INPUT_EVENT_NAMES, BpodHardware
from rig.fsm.executor import CYCLE_US, CYCLES_PER_S, Record, ReferenceExecutor
from rig.fsm.model import TUP, StateMachine
from rig.schema.hardware import INPUT_CHANNELS


class BpodDevice:
    def __init__(
        self,
        client: BpodClient,
        hardware: BpodHardware,
        channels: Mapping[str, str],
        *,
        clock: Callable[[], float] = time.monotonic,
        silence_s: float = 0.5,
        max_open_s: Mapping[str, float] | None = None,
    ) -> None:
        self.client, self.hw, self.channels = client, hardware, channels
        self.max_open_s = dict(max_open_s or {})  # valve -> s: the compiler refuses longer
        self.clock, self.silence_s = clock, silence_s
        self.shadow = ReferenceExecutor()
        self.disagreements: list[str] = []
        self.garbage = 0
        self._sent: deque[tuple[int, StateMachine]] = deque()  # sent, not started yet
        self._inputs = self._input_codes()
        self._tup = hardware.event_index("Tup")
        self._trial_start_cycle = 0
        self._host_at_start = clock()
        self._host_zero = clock()
        self._abort = False
        self._wake = threading.Event()
        self._heard = clock()  # when the Bpod last sent anything
        self._stall_s: float | None = None  # see _stall_limit

    def _input_codes(self) -> dict[int, tuple[str, int]]:
        """Bpod event code -> (rig input channel, level)."""
        codes = {}
        for channel in INPUT_CHANNELS:
            bpod = self.channels.get(channel)
            if not bpod:
                continue
            letter = bpod.rstrip("0123456789")
            suffixes = next(
                (on, off) for base, on, off in INPUT_EVENT_NAMES.values() if base == letter
            )
            codes[self.hw.event_index(bpod + suffixes[0])] = (channel, 1)
            codes[self.hw.event_index(bpod + suffixes[1])] = (channel, 0)
        return codes

    # -- the Device interface -------------------------------------------------------------------
    @property
    def idle(self) -> bool:
        return not self.shadow.running and not self._sent

    def queue(self, machine: StateMachine, trial: int) -> None:
        # trial 0 is the operator's (a drop at the calibrated time, a flush he asked for)
        limits = self.max_open_s if trial != 0 else None
        compiled = compile_machine(machine, self.hw, self.channels, max_open_s=limits)
        if self.idle:  # silence while nothing ran (a pause) is not a stall
            self._heard = self.clock()
        self._stall_s = _stall_limit(machine, self._stall_s)
        self.client.send_machine(compiled.message)
        self._sent.append((trial, machine))

    def abort(self) -> list[int]:
        """End the running trial now (``'X'``; its end is reported like any other). The
        firmware then drops the machine queued with RunASAP: it never starts."""
        if not self.shadow.running:
            return []  # a trial sent but not started yet is aborted when it starts
        self._abort = True
        self.client.write(FORCE_EXIT)
        dropped = [trial for trial, _ in self._sent]
        self._sent.clear()
        return dropped

    def interrupt(self) -> None:
        """Make a waiting :meth:`poll` raise :class:`PollInterrupted` within one read
        (50 ms); any thread."""
        self._wake.set()

    def poll(self) -> list[DeviceEvent]:
        while True:
            records: list[Record] = []
            messages = self.client.poll(0.05)
            if messages:
                self._heard = self.clock()
            for message in messages:
                records += self._handle(message)
            if records:
                host_t = round(self.clock() - self._host_zero, 6)
                return [
                    DeviceEvent(
                        r.trial, r.kind, r.name, r.cycle / CYCLES_PER_S, r.value, r.freq_hz, host_t
                    )
                    for r in records
                ]
            if not messages:
                if self.idle:
                    return []
                self._check_alive()
                if self._wake.is_set():
                    self._wake.clear()
                    raise PollInterrupted

    # -- device messages -> the shadow's records ------------------------------------------------
    def _handle(self, message: object) -> list[Record]:
        if isinstance(message, TrialStart):
            return self._start(message)
        if isinstance(message, Events):
            return self._events(message)
        if isinstance(message, TrialEnd):
            if self._abort and self.shadow.running:
                self._abort = False
                return self.shadow.force_exit(
                    max(self._trial_start_cycle + message.cycle, self.shadow.last_cycle + 1)
                )
            if self.shadow.running:
                self.disagreements.append(
                    f"trial {self.shadow.trial}: the Bpod ended it at cycle {message.cycle}, "
                    "the host's replay did not"
                )
            return []
        if isinstance(message, Garbage):
            self.garbage += 1
        return []

    def _start(self, message: TrialStart) -> list[Record]:
        if not self._sent:
            self.disagreements.append(f"a trial started at {message.start_us} us that was not sent")
            return []
        trial, machine = self._sent.popleft()
        cycle = message.start_us // CYCLE_US
        self._trial_start_cycle = cycle
        self._host_at_start = self.clock()
        if self.shadow.running or self.shadow.has_queued:
            self.disagreements.append(f"trial {trial}: started while the host's replay ran")
            return []
        self.shadow.load(machine, trial)
        self.shadow.start(cycle)
        return self.shadow.tick(cycle, ())

    def _events(self, message: Events) -> list[Record]:
        cycle = self._trial_start_cycle + message.cycle
        records: list[Record] = []
        deadline = self.shadow.next_deadline()
        while deadline is not None and deadline < cycle and self.shadow.running:
            self.disagreements.append(
                f"trial {self.shadow.trial}: the host expected an event at cycle "
                f"{deadline - self._trial_start_cycle}, the Bpod reported none"
            )
            records += self.shadow.tick(deadline, ())
            deadline = self.shadow.next_deadline()
        edges = [self._inputs[c] for c in message.codes if c in self._inputs]
        if not self.shadow.running:
            return records
        step = self.shadow.tick(cycle, edges)
        tup_here = any(r.kind == "input" and r.name == "Tup" for r in step)
        if tup_here != (self._tup in message.codes):
            self.disagreements.append(
                f"trial {self.shadow.trial} cycle {message.cycle}: Tup on the "
                f"{'host' if tup_here else 'Bpod'} only"
            )
        return records + step

    def _check_alive(self) -> None:
        quiet = self.clock() - self._heard
        if self._stall_s is not None and quiet > self._stall_s:  # whatever the replay thinks
            raise DeviceLost(
                f"{self.client.transport.name}: nothing from the Bpod for {quiet:.1f} s with "
                f"trial {self.shadow.trial or (self._sent[0][0] if self._sent else '?')} on it "
                f"(every state it runs reports within {self._stall_s:.1f} s)"
            )
        deadline = self.shadow.next_deadline()
        if deadline is None or not self.shadow.running:
            return
        due = self._host_at_start + (deadline - self._trial_start_cycle) / CYCLES_PER_S
        if self.clock() > due + self.silence_s:
            late = deadline - self._trial_start_cycle
            raise DeviceLost(
                f"{self.client.transport.name}: no event from the Bpod {self.silence_s} s after "
                f"trial {self.shadow.trial} was due one (cycle {late})"
            )


def _stall_limit(machine: StateMachine, previous: float | None) -> float | None:
    """How long the Bpod can be silent while ``machine`` runs: every state left by its timer
    reports within it (the Bpod sends each transition), so twice the longest timer, at least
    5 s; None (no limit) if a state waits for an input alone."""
    if any(TUP not in s.transitions for s in machine.states):
        return None
    limit = max(5.0, 2 * max((s.timer_s for s in machine.states), default=0.0))
    return limit if previous is None else max(limit, previous)
