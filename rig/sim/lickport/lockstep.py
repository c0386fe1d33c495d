"""The emulated board held in lockstep by its caller: for tests and benchmarks that must
set inputs at exact simulated cycles and see every output edge (no simulated mouse).

The caller is the coupler: nothing runs on the board unless :meth:`Board.run_to` runs
it. The host side is the real client over the harness's pty; bytes the host writes
reach the firmware as the board runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from rig.devices.lickport import codec
from rig.devices.lickport.client import LickportClient
from rig.sim.lickport.build import ensure_built
from rig.sim.lickport.harness import CYCLES_PER_S, Harness, Output
from rig.transport.serial_port import SerialTransport

US = CYCLES_PER_S // 1_000_000  # cycles per microsecond


@dataclass
class Board:
    harness: Harness
    client: LickportClient
    outputs: list[Output] = field(default_factory=list)  # every watched edge so far
    messages: list[codec.Message] = field(default_factory=list)  # every message so far

    @property
    def cycle(self) -> int:
        return self.harness.cycle

    def run_to(self, cycle: int) -> list[Output]:
        """Run the board to ``cycle`` (through any output changes on the way)."""
        new: list[Output] = []
        while self.harness.cycle < cycle:
            new += self.harness.run(cycle)
        self.outputs += new
        self.read()
        return new

    def run_for(self, seconds: float) -> list[Output]:
        return self.run_to(self.cycle + round(seconds * CYCLES_PER_S))

    def read(self) -> list[codec.Message]:
        new = self.client.poll(0.0)
        while more := self.client.poll(0.0):
            new += more
        self.messages += new
        return new

    def run_until_message(
        self, want: type[codec.Message], *, step_s: float = 0.001, limit_s: float = 5.0
    ) -> codec.Message:
        """Run in steps until a message of type ``want`` arrives (after those seen)."""
        seen = len(self.messages)
        end = self.cycle + round(limit_s * CYCLES_PER_S)
        while self.cycle < end:
            self.run_for(step_s)
            for message in self.messages[seen:]:
                if isinstance(message, want):
                    return message
            seen = len(self.messages)
        raise TimeoutError(f"no {want.__name__} from the board in {limit_s} simulated s")

    def run_until_edge(self, pin: str, value: int, *, limit_s: float = 5.0) -> Output:
        seen = len(self.outputs)
        end = self.cycle + round(limit_s * CYCLES_PER_S)
        while self.cycle < end:
            self.run_to(min(end, self.cycle + round(0.001 * CYCLES_PER_S)))
            for out in self.outputs[seen:]:
                if out.pin == pin and out.value == value:
                    return out
            seen = len(self.outputs)
        raise TimeoutError(f"{pin} never went to {value} in {limit_s} simulated s")

    def configure(
        self,
        *,
        heartbeat_ms: int,
        max_open_ms: tuple[int, int],
        debounce_us: int = 1000,
        bitcode: bool = False,
    ) -> codec.Message:
        """Send the board its configuration and run until its answer (an Ack of 'C')."""
        self.client.write(
            codec.config(
                debounce_us=(debounce_us, debounce_us),
                heartbeat_ms=heartbeat_ms,
                max_open_ms=max_open_ms,
                bitcode=bitcode,
            )
        )
        return self.run_until_message(codec.Ack)

    def events(self) -> list[codec.Event]:
        return [m for m in self.messages if isinstance(m, codec.Event)]


@contextlib.contextmanager
def board(watch: list[str], *, realtime: bool = False) -> Iterator[Board]:
    """The firmware in a simulated Uno, the client connected, the board not configured."""
    elf, binary = ensure_built()
    with Harness(binary, elf, realtime=realtime, watch=watch) as harness:
        client = LickportClient(SerialTransport(harness.port, codec.BAUD))
        b = Board(harness, client)
        try:
            client.transport.write(codec.hello())
            hello = b.run_until_message(codec.Hello)
            assert isinstance(hello, codec.Hello)
            client.hello = hello
            b.messages.clear()
            yield b
        finally:
            client.close()
