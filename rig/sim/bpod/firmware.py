"""The emulated Bpod State Machine firmware: USB commands in, bytes out, one cycle per tick.

Pure and clocked by the caller: :meth:`BpodFirmware.tick` is one 100 us cycle. Bytes from
the host go in with :meth:`receive`; bytes for the host come out of :meth:`read`. Device
times come from the cycle counter (session microseconds = cycles x 100), never from a
wall clock, so hosts' timing self-checks hold.

Behaviour (``reference/bpod-serial-protocol.md``): discovery byte 0xDE every 100 ms while
unconnected; at most one command per cycle, its payload read whole; ``'6'`` answers
``'5'``, resets the session clock and makes the firmware deaf for 100 ms; ``'C'`` is loaded
at once when idle and at the trial's end when running; RunASAP starts it without ``'R'``,
in the tick after the previous trial's exit; the confirmation byte precedes the start
time only after a new ``'C'``; ``'X'`` forces the end report, also when idle; unknown
command bytes are ignored; FW22 ignores the FW23-only commands.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable

from rig.devices.bpod.hardware import BpodHardware
from rig.fsm.executor import CYCLE_US
from rig.sim.bpod.matrix import MatrixError, StateMatrix, load_matrix
from rig.sim.bpod.trial import RunningTrial

DISCOVERY_EVERY = 1000  # cycles (100 ms)
HANDSHAKE_DEAF = 1000
MODULE_SCAN = 100
FW23_ONLY = set(b"fv:{}")
FLEXIO = set(b"Qq^o.tpme_")  # machine type 4, FW23: FlexIO configuration


class BpodFirmware:
    def __init__(self, hw: BpodHardware, *, minor: int = 10, pcb: int = 4) -> None:
        self.hw, self.minor, self.pcb = hw, minor, pcb
        self.allocation: tuple[int, ...] = tuple(0 for _ in hw.serial_inputs)
        self.cycle = 0  # ticks since power-on
        self.session_cycles = 0  # ticks since the last clock reset
        self.connected = False
        self.levels = [0] * len(hw.inputs)  # logical levels, set by the world or a test
        self.enabled = [letter in "BWDF" for letter in hw.inputs]
        self.on_output: Callable[[int, int], None] = lambda index, value: None
        self.errors: list[str] = []  # what the firmware would silently mishandle
        self.trials_ended = 0
        self.flex_types = [0, 0, 0, 0]  # FlexIO channel types (2+): 0 digital in
        self._in = bytearray()
        self._out: dict[int, bytearray] = {1: bytearray(), 2: bytearray(), 3: bytearray()}
        self._later: deque[tuple[int, bytes]] = deque()
        self._deaf_until = 0
        self._matrix: StateMatrix | None = None
        self._pending: StateMatrix | None = None
        self._pending_run = False
        self._new_machine = False
        self._trial: RunningTrial | None = None
        self._first_loop_at: int | None = None  # the tick of the next trial's cycle 0
        self._in_exit_tick = False
        self._paused = False
        self._override: dict[int, int] = {}

    # -- the host's side ---------------------------------------------------------------------
    def receive(self, data: bytes) -> None:
        self._in += data

    def read(self, port: int = 1) -> bytes:
        data = bytes(self._out[port])
        self._out[port].clear()
        return data

    @property
    def running(self) -> bool:
        return self._trial is not None

    @property
    def trial_cycle(self) -> int | None:
        """The running trial's cycle once its cycle 0 has run; None otherwise."""
        if self._trial is None or self._first_loop_at is not None:
            return None
        return self._trial.cycle

    @property
    def starting(self) -> bool:
        """A trial was started and its cycle 0 is the next tick."""
        return self._first_loop_at is not None

    # -- one cycle ---------------------------------------------------------------------------
    def tick(self) -> None:
        self.cycle += 1
        self.session_cycles += 1
        out = self._out[1]
        while self._later and self._later[0][0] <= self.cycle:
            out += self._later.popleft()[1]
        if not self.connected and self.cycle % DISCOVERY_EVERY == 0:
            out.append(0xDE)
        if self._in and self.cycle >= self._deaf_until:
            self._command()
        self._state_machine_cycle()

    def _state_machine_cycle(self) -> None:
        trial = self._trial
        if trial is None:
            return
        if self._first_loop_at is not None:
            if self.cycle < self._first_loop_at:
                return
            self._first_loop_at = None
            self._out[1] += struct.pack("<Q", self.session_cycles * CYCLE_US)
            trial.first_loop()
            return
        if self._paused:
            return
        trial.tick()
        if trial.ended:
            self._end_report(trial.cycle, trial.cycle + int(self._in_exit_tick))

    def _end_report(self, cycle: int, completed: int) -> None:
        out = self._out[1]
        out += bytes([1, 1, 255]) + struct.pack("<II", cycle, completed)
        out += struct.pack("<Q", self.session_cycles * CYCLE_US)
        self._trial = None
        self.trials_ended += 1
        self._in_exit_tick = False
        if self._pending is not None:
            self._matrix, self._pending = self._pending, None
            if self._pending_run:
                self._pending_run = False
                self._start(in_exit_tick=True)

    def _start(self, *, in_exit_tick: bool = False) -> None:
        if self._matrix is None:
            self.errors.append(f"cycle {self.cycle}: 'R' with no state machine loaded")
            return
        if self._new_machine:
            self._out[1].append(1)
            self._new_machine = False
        self._override.clear()
        self._trial = RunningTrial(
            self.hw, self._matrix, self._out[1], self._output, self.levels, self.enabled
        )
        self._first_loop_at = self.cycle + 1  # cycle 0 is the next tick
        self._in_exit_tick = in_exit_tick

    def _output(self, index: int, value: int) -> None:
        if index not in self._override:
            self.on_output(index, value)

    # -- commands ----------------------------------------------------------------------------
    def _command(self) -> None:
        byte = self._in[0]
        if self.hw.firmware < 23 and byte in FW23_ONLY:
            del self._in[:1]  # FW22 does not know it: no reply
            return
        if byte in FLEXIO and not (self.hw.machine_type >= 4 and self.hw.firmware >= 23):
            del self._in[:1]  # only the 2+ has FlexIO channels
            return
        handler = _HANDLERS.get(chr(byte))
        if handler is None:
            del self._in[:1]  # unknown command bytes are ignored
            return
        handler(self)

    def _need(self, n: int) -> bytes | None:
        """The command byte and its ``n`` payload bytes, consumed; None if not all here yet."""
        if len(self._in) < 1 + n:
            return None
        data = bytes(self._in[1 : 1 + n])
        del self._in[: 1 + n]
        return data

    def _reply(self, data: bytes) -> None:
        self._out[1] += data


def _handshake(fw: BpodFirmware) -> None:
    fw._need(0)
    fw.connected = True
    fw.session_cycles = 0
    fw._reply(b"5")
    fw._deaf_until = fw.cycle + HANDSHAKE_DEAF


def _simple(reply: Callable[[BpodFirmware], bytes]) -> Callable[[BpodFirmware], None]:
    def handler(fw: BpodFirmware) -> None:
        fw._need(0)
        fw._reply(reply(fw))

    return handler


def _reset_clock(fw: BpodFirmware) -> None:
    fw._need(0)
    fw.session_cycles = 0
    fw._reply(b"\x01")


def _disconnect(fw: BpodFirmware) -> None:
    fw._need(0)
    fw.connected = False
    fw._reply(b"1")


def _modules(fw: BpodFirmware) -> None:
    fw._need(0)  # nothing on the module ports: one 0 per UART, after the 10 ms scan
    fw._later.append((fw.cycle + MODULE_SCAN, bytes(fw.hw.serial_inputs.count("U"))))


def _allocation(fw: BpodFirmware) -> None:
    data = fw._need(len(fw.hw.serial_inputs))
    if data is not None:
        fw.allocation = tuple(data)
        fw.hw = fw.hw.with_allocation(fw.allocation)
        fw._reply(b"\x01")


def _enable(fw: BpodFirmware) -> None:
    data = fw._need(len(fw.hw.inputs))
    if data is not None:
        fw.enabled[:] = [bool(b) for b in data]
        fw._reply(b"\x01")


def _fixed(n: int, reply: bytes | None = None) -> Callable[[BpodFirmware], None]:
    def handler(fw: BpodFirmware) -> None:
        if fw._need(n) is not None and reply is not None:
            fw._reply(reply)

    return handler


def _override(fw: BpodFirmware) -> None:
    data = fw._need(2)
    if data is not None:
        index, value = data
        fw._override[index] = value
        fw.on_output(index, value)


def _virtual_input(fw: BpodFirmware) -> None:
    data = fw._need(2)
    if data is not None and fw.running and data[0] < len(fw.levels):
        letter = fw.hw.inputs[data[0]]
        inverted = fw.hw.machine_type >= 2 and letter in "BW"  # opto-isolated: raw 0 = high
        fw.levels[data[0]] = int(not data[1]) if inverted else int(bool(data[1]))


def _soft_code(fw: BpodFirmware) -> None:
    data = fw._need(1)
    if data is not None and fw._trial is not None:
        fw._trial.soft_codes.append(data[0])


def _echo(fw: BpodFirmware) -> None:
    data = fw._need(1)
    if data is not None:
        fw._reply(bytes([2, data[0]]))


def _pause(fw: BpodFirmware) -> None:
    data = fw._need(1)
    if data is not None:
        fw._paused = data[0] == 0


def _read_input(fw: BpodFirmware) -> None:
    data = fw._need(1)
    if data is not None:
        fw._reply(bytes([fw.levels[data[0]] if data[0] < len(fw.levels) else 0]))


def _load_library(fw: BpodFirmware) -> None:
    if len(fw._in) < 3:
        return
    at = 3
    for _ in range(fw._in[2]):
        if at + 2 > len(fw._in) or at + 2 + fw._in[at + 1] > len(fw._in):
            return
        at += 2 + fw._in[at + 1]
    del fw._in[:at]
    fw._reply(b"\x01")


def _send_to_module(fw: BpodFirmware) -> None:
    if len(fw._in) >= 3 and len(fw._in) >= 3 + fw._in[2]:
        del fw._in[: 3 + fw._in[2]]


def _state_machine(fw: BpodFirmware) -> None:
    if len(fw._in) < 5:
        return
    run_asap, _back = fw._in[1], fw._in[2]
    size = struct.unpack_from("<H", fw._in, 3)[0]
    if len(fw._in) < 5 + size:
        return
    body = bytes(fw._in[5 : 5 + size])
    del fw._in[: 5 + size]
    try:
        matrix = load_matrix(body, fw.hw)
    except MatrixError as exc:
        fw.errors.append(f"cycle {fw.cycle}: 'C' not loaded: {exc}")
        return
    fw._new_machine = True
    if fw.running:
        fw._pending, fw._pending_run = matrix, bool(run_asap)
        return
    fw._matrix = matrix
    if run_asap:
        fw._start()


def _run(fw: BpodFirmware) -> None:
    fw._need(0)
    if not fw.running:
        fw._start()


def _force_exit(fw: BpodFirmware) -> None:
    fw._need(0)
    trial = fw._trial
    if trial is None:
        fw._reply(bytes([1, 1, 255]) + bytes(8) + struct.pack("<Q", fw.session_cycles * CYCLE_US))
        return
    trial.end()
    fw._pending_run = False
    fw._end_report(trial.cycle, trial.cycle)


def _flex_types(fw: BpodFirmware) -> None:
    data = fw._need(4)
    if data is not None:
        fw.flex_types = list(data)
        fw._reply(b"\x01")


def _flex_enable(fw: BpodFirmware) -> None:
    data = fw._need(3)  # channel, threshold (0/1), enable
    if data is not None and data[0] < 4:
        fw._reply(b"\x01")  # replies only for a valid channel


def _psram_test(fw: BpodFirmware) -> None:
    fw._need(0)
    fw._reply(bytes([8, 1]))  # 8 MB, ok


def _app_port(fw: BpodFirmware) -> None:
    fw._need(0)
    if fw.hw.machine_type >= 3:
        fw._out[2].append(222)


def _analog_port(fw: BpodFirmware) -> None:
    fw._need(0)
    if fw.hw.machine_type >= 4:
        fw._out[3].append(223)


_HANDLERS: dict[str, Callable[[BpodFirmware], None]] = {
    "6": _handshake,
    "F": _simple(lambda fw: struct.pack("<HH", fw.hw.firmware, fw.hw.machine_type)),
    "f": _simple(lambda fw: struct.pack("<H", fw.minor)),
    "v": _simple(lambda fw: bytes([fw.pcb])),
    "G": _simple(lambda fw: b"\x01"),
    "*": _reset_clock,
    "H": _simple(lambda fw: fw.hw.h_reply()),
    "M": _modules,
    "%": _allocation,
    "E": _enable,
    "K": _fixed(2, b"\x01"),
    ":": _fixed(1, b"\x01"),
    ">": _fixed(0, b"\x01"),
    "J": _fixed(2),
    "U": _fixed(2),
    "T": _send_to_module,
    "L": _load_library,
    "O": _override,
    "V": _virtual_input,
    "~": _soft_code,
    "S": _echo,
    "$": _pause,
    "I": _read_input,
    "C": _state_machine,
    "R": _run,
    "X": _force_exit,
    "Z": _disconnect,
    "{": _app_port,
    "}": _analog_port,
    # FlexIO (2+): configuration is answered; analogue sample streaming is not emulated
    "Q": _flex_types,
    "q": _simple(lambda fw: bytes(fw.flex_types)),
    "^": _fixed(4, b"\x01"),
    "o": _fixed(1, b"\x01"),
    ".": _simple(lambda fw: b"\x01"),
    "t": _fixed(16, b"\x01"),
    "p": _fixed(8, b"\x01"),
    "m": _fixed(4, b"\x01"),
    "e": _flex_enable,
    "_": _psram_test,
}
