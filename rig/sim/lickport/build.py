"""Build what the emulated lick-port board needs (the Uno firmware and the simulator
harness) with ``make -C firmware``, when it is missing or older than its sources."""

from __future__ import annotations

import subprocess
from pathlib import Path

FIRMWARE_DIR = Path(__file__).resolve().parents[3] / "firmware"
ELF = FIRMWARE_DIR / "build" / "uno" / "lickport.elf"
HARNESS = FIRMWARE_DIR / "build" / "lickport-sim"


class BuildError(RuntimeError):
    """The firmware or the harness could not be built; the message has make's output."""


def ensure_built() -> tuple[Path, Path]:
    """The firmware ELF and the harness binary, built if needed (make decides)."""
    if not (FIRMWARE_DIR / "Makefile").exists():
        raise BuildError(f"{FIRMWARE_DIR}: no firmware sources (run from a source checkout)")
    done = subprocess.run(
        ["make", "-s", "-C", str(FIRMWARE_DIR), "uno", "sim"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BuildError(
            f"make -C {FIRMWARE_DIR} uno sim failed ({done.returncode}); install the "
            "toolchain with `make system-deps` (as root):\n" + done.stdout + done.stderr
        )
    return ELF, HARNESS
