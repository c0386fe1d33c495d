"""The Uno firmware's headroom and input timing (issue 17, item 8), in the simulated board:
static RAM within the Arduino IDE's 75 %, the stack's high-water mark after the worst load
(uploads during trials, a 30 Hz frame clock, lick bouts), the edges' stamps and the valve."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from bench.lickport import loaded, stack_spare
from rig.sim.lickport.build import FIRMWARE_DIR, ensure_built
from rig.sim.lickport.lockstep import board
from rig.sim.lickport.world import WATCH


@pytest.fixture(scope="module")
def run() -> Iterator[dict[str, Any]]:
    with board([*WATCH, "PB3"]) as b:
        b.configure(heartbeat_ms=60_000, max_open_ms=(200, 200), bitcode=True)
        figures = loaded(b, seed=3, trials=30)
        yield figures | stack_spare(b)


def test_static_ram_is_within_75_percent_of_the_uno() -> None:
    ensure_built()
    text = (FIRMWARE_DIR / "build" / "uno" / "size.txt").read_text()
    used, total = map(int, re.search(r"RAM (\d+) of (\d+)", text).groups())  # type: ignore[union-attr]
    assert total == 2048 and used <= 0.75 * total, text


def test_the_stack_leaves_256_bytes_after_the_worst_load(run: dict[str, Any]) -> None:
    assert run["stack_bytes_used"] > 64  # the paint was found and the stack ran over it
    assert run["stack_spare_bytes"] >= 256, run


@pytest.mark.xfail(strict=True, reason="measured: up to 7.4 us when edges coincide (issue 17)")
def test_every_edge_is_stamped_within_4_us(run: dict[str, Any]) -> None:
    assert run["edges_stamped"] > 100
    low, high = run["stamp_error_us"]
    assert low >= -4 and high <= 4, run


@pytest.mark.xfail(strict=True, reason="measured: max 182 us when the reflex is not armed")
def test_the_valve_follows_a_correct_lick_within_50_us(run: dict[str, Any]) -> None:
    assert max(run["lick_to_valve_us"]) <= 50, run
