"""Client of `lickport-sim` (firmware/sim): runs a firmware ELF in a simulated ATmega328P.

The harness process bridges the board's UART0 to a pty (`Harness.port`, opened like
/dev/ttyACM0) and lets this object, the *coupler*, watch output pins and drive input pins in
simulated time over a UNIX socket: every `run` stops at the target cycle or at the first
watched output change, whichever is first. See firmware/sim/README.md for the protocol.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from types import TracebackType

CYCLES_PER_S = 16_000_000


class HarnessError(RuntimeError):
    """The harness process failed to start, died, or broke the protocol."""


@dataclass(frozen=True)
class Output:
    """A watched output pin changed: a level (0/1), a tone in Hz or a PWM duty (0-255)."""

    cycle: int
    pin: str
    value: int


class Harness:
    """One simulated board; a context manager. `run()` and `set()` drive it in lockstep."""

    def __init__(
        self,
        binary: str | os.PathLike[str],
        elf: str | os.PathLike[str],
        *,
        realtime: bool = False,
        watch: list[str] | tuple[str, ...] = (),
        start_timeout: float = 5.0,
    ) -> None:
        self._binary = str(binary)
        self._dir = tempfile.mkdtemp(prefix="lickport-sim-")
        self._stderr_path = os.path.join(self._dir, "stderr.txt")
        socket_path = os.path.join(self._dir, "control.sock")
        args = [self._binary, str(elf), "--control", socket_path]
        args += ["--realtime" if realtime else "--fast"]
        if watch:
            args += ["--watch", ",".join(watch)]
        self._sock: socket.socket | None = None
        self.cycle = 0
        with open(self._stderr_path, "wb") as err:
            try:
                self._proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err)
            except OSError as e:
                shutil.rmtree(self._dir, ignore_errors=True)
                raise HarnessError(f"cannot start {self._binary}: {e}") from e
        try:
            self.port = self._read_banner(start_timeout)
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._sock.connect(socket_path)
            self._rfile = self._sock.makefile("rb")
            self.cycle = self._expect_at(self._line())
        except BaseException:
            self.close()
            raise

    def _fail(self, what: str) -> HarnessError:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=1.0)
        with open(self._stderr_path, errors="replace") as f:
            stderr = f.read().strip()
        status = self._proc.poll()
        return HarnessError(f"{self._binary}: {what} (exit status {status}); stderr:\n{stderr}")

    def _read_banner(self, timeout: float) -> str:
        """Reads `port: PATH`, `control: PATH`, `ready` from the harness's stdout."""
        assert self._proc.stdout is not None
        fd, buf, deadline = self._proc.stdout.fileno(), b"", time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"ready\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise self._fail(f"not ready after {timeout} s")
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise self._fail("exited before it was ready")
                buf += chunk
        for line in buf.decode().splitlines():
            if line.startswith("port: "):
                return line.removeprefix("port: ")
        raise self._fail(f"no port line in {buf!r}")

    def _line(self) -> str:
        line = self._rfile.readline()
        if not line.endswith(b"\n"):
            raise self._fail("closed the control socket")
        return line.decode().rstrip("\n")

    def _expect_at(self, line: str) -> int:
        if not line.startswith("at "):
            raise self._fail(f"expected 'at CYCLE', got {line!r}")
        return int(line[3:])

    def _send(self, line: str) -> None:
        if self._sock is None:
            raise HarnessError("the harness is closed")
        try:
            self._sock.sendall(line.encode() + b"\n")
        except OSError as e:
            raise self._fail(f"control socket: {e}") from e

    def run(self, until: int | None = None) -> list[Output]:
        """Runs to cycle `until` (None: no limit) or the first watched output change."""
        self._send(f"run {-1 if until is None else until}")
        outputs = []
        while (line := self._line()).startswith("out "):
            _, cycle, pin, value = line.split()
            outputs.append(Output(int(cycle), pin, int(value)))
        self.cycle = self._expect_at(line)
        return outputs

    def set(self, pin: str, level: int) -> None:
        """Sets input pin `pin` (e.g. "PD4") to `level` (0/1) at the current cycle."""
        if len(pin) != 3 or pin[0] != "P" or not pin[1].isupper() or pin[2] not in "01234567":
            raise ValueError(f"bad pin name {pin!r} (e.g. 'PD4')")
        self._send(f"set {pin} {1 if level else 0}")

    def close(self) -> None:
        """Quits the harness (killing it if it does not exit) and removes its files."""
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.sendall(b"quit\n")
            self._rfile.close()
            self._sock.close()
            self._sock = None
        if self._proc.poll() is None:
            try:
                self._proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Harness:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
