"""The simavr harness (firmware/sim/lickport_sim.c) and its client, on a tiny test program.

fixtures/pins.c copies PD4 to PD6, plays 1 kHz on PB1 for 100 ms, echoes the UART at
1 Mbaud, and drives PWM at duty 64 on PB2 (timer1, phase correct) and PD3 (timer2, fast).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from rig.sim.lickport.harness import CYCLES_PER_S, Harness, HarnessError, Output

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "pins.c"
MS = CYCLES_PER_S // 1000


@pytest.fixture(scope="session")
def binary() -> Path:
    done = subprocess.run(
        ["make", "-C", str(FIRMWARE), "build/lickport-sim"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return FIRMWARE / "build" / "lickport-sim"


@pytest.fixture(scope="session")
def elf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pins") / "pins.elf"
    cmd = ["avr-gcc", "-mmcu=atmega328p", "-Os", "-DF_CPU=16000000UL", "-o", str(out)]
    done = subprocess.run([*cmd, str(FIXTURE)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture
def board(binary: Path, elf: Path) -> Iterator[Harness]:
    with Harness(binary, elf, watch=["PD6", "PB1:tone", "PB2:pwm", "PD3:pwm"]) as h:
        yield h


def run_collect(h: Harness, until: int) -> list[Output]:
    """Everything reported up to cycle `until`."""
    outputs: list[Output] = []
    while h.cycle < until:
        outputs += h.run(until)
    return outputs


def test_starts_paused_at_cycle_zero_with_a_pty(board: Harness) -> None:
    assert board.cycle == 0
    assert board.port.startswith("/dev/pts/")
    assert os.path.exists(board.port)


def test_run_stops_at_the_target_cycle(board: Harness) -> None:
    run_collect(board, 5 * MS)
    assert 5 * MS <= board.cycle <= 5 * MS + 4  # the last instruction may overrun a little


def test_input_pin_reaches_output_pin_within_cycles(board: Harness) -> None:
    run_collect(board, 20 * MS)
    for level in (1, 0, 1):
        start = board.cycle
        board.set("PD4", level)
        outs = [o for o in board.run(start + 1000) if o.pin == "PD6"]
        assert outs and outs[0].value == level
        assert 3 <= outs[0].cycle - start <= 12  # measured: 6-9 cycles for this loop


def test_runs_are_deterministic(binary: Path, elf: Path) -> None:
    def script() -> list[Output]:
        with Harness(binary, elf, watch=["PD6", "PB1:tone"]) as h:
            outs = run_collect(h, 10 * MS + 7)
            h.set("PD4", 1)
            return outs + run_collect(h, 12 * MS)

    assert script() == script()


def test_tone_reported_with_its_frequency_then_silence(board: Harness) -> None:
    tones = [o for o in run_collect(board, 150 * MS) if o.pin == "PB1"]
    assert [o.value for o in tones] == [1000, 0]
    start, stop = tones[0].cycle, tones[1].cycle
    assert start < MS  # the first edge: timer0's first compare match after boot
    assert stop - start == pytest.approx(100 * MS, abs=8000 + 4)  # last edge: a half period


def test_pwm_duty_from_the_timer(board: Harness) -> None:
    pwm = [o for o in run_collect(board, 10 * MS) if o.pin in ("PB2", "PD3")]
    assert {(o.pin, o.value) for o in pwm} == {("PB2", 64), ("PD3", 64)}
    assert all(o.cycle < MS for o in pwm)


def test_pwm_duty_measured_from_edges(binary: Path, elf: Path) -> None:
    """PB1 is not timer-driven (the tone ISR toggles it): its duty is measured from edges."""
    with Harness(binary, elf, watch=["PB1:pwm"]) as h:
        outs = run_collect(h, 150 * MS)
    assert [o.value for o in outs] == [128, 0]
    assert outs[1].cycle - outs[0].cycle == pytest.approx(100 * MS, abs=16000)


def test_uart_bytes_echo_through_the_pty(board: Harness) -> None:
    with serial.Serial(board.port, 1_000_000, timeout=0) as port:
        port.write(b"hello, board")
        got, deadline = b"", time.monotonic() + 5.0
        while len(got) < 12 and time.monotonic() < deadline:
            board.run(board.cycle + MS)
            got += port.read(64)
    assert got == b"hello, board"


@pytest.mark.realtime
def test_realtime_keeps_simulated_time_at_wall_time(binary: Path, elf: Path) -> None:
    with Harness(binary, elf, realtime=True) as h:
        t0 = time.monotonic()
        run_collect(h, CYCLES_PER_S // 5)
        elapsed = time.monotonic() - t0
    assert 0.18 <= elapsed < 1.0


def test_close_ends_the_process_and_removes_its_files(binary: Path, elf: Path) -> None:
    h = Harness(binary, elf)
    h.run(MS)
    h.close()
    assert h._proc.returncode == 0
    assert not os.path.exists(h._dir)
    h.close()  # idempotent


def test_sigterm_ends_the_harness_cleanly(binary: Path, elf: Path) -> None:
    with Harness(binary, elf) as h:
        h._proc.send_signal(signal.SIGTERM)
        assert h._proc.wait(timeout=5) == 0
        with pytest.raises(HarnessError, match="exit status 0"):
            h.run(MS)


def test_a_stopped_firmware_is_reported(binary: Path, tmp_path: Path) -> None:
    source = tmp_path / "stop.c"
    source.write_text(
        "#include <avr/interrupt.h>\n#include <avr/sleep.h>\n"
        "int main(void) { cli(); sleep_enable(); sleep_cpu(); return 0; }\n"
    )
    stop = tmp_path / "stop.elf"
    subprocess.run(["avr-gcc", "-mmcu=atmega328p", "-Os", "-o", str(stop), str(source)], check=True)
    with Harness(binary, stop) as h, pytest.raises(HarnessError, match="firmware stopped at cycle"):
        h.run(MS)


def test_a_bad_firmware_is_a_clear_error(binary: Path, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.elf"
    bogus.write_text("not an elf")
    with pytest.raises(HarnessError, match=r"lickport-sim.*cannot read firmware"):
        Harness(binary, bogus)


def test_bad_pin_names_are_refused(board: Harness) -> None:
    with pytest.raises(ValueError):
        board.set("D4", 1)
