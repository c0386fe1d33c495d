"""The emulated lick-port board's world: the simulated mouse at the board's pins.

A thread drives the harness (:mod:`rig.sim.lickport.harness`) in lockstep: it runs the
simulated AVR until the mouse's next port contact or the next output change, whichever
is first; output changes reach the mouse under the rig's channel names (the speaker's
tone by its frequency, the pole position by its PWM duty); contacts set the lick pins at
their exact simulated cycle. Valve openings become water through the calibration. The
mouse hears of a trial's end when the next trial's TTL rises.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

from rig.sim.device import World
from rig.sim.lickport.build import ensure_built
from rig.sim.lickport.harness import CYCLES_PER_S, Harness
from rig.sim.mouse import TONE_HZ

# The Uno's pins by AVR port (firmware/lickport/arduino/lickport.cpp).
INPUT_PINS = {"lick_left": "PD4", "lick_right": "PD5", "frame_clock": "PD2", "aux": "PD3"}
OUTPUT_PINS = {
    "PD6": "valve_left",
    "PD7": "valve_right",
    "PB0": "pole_drop",
    "PB1": "speaker",
    "PB2": "pole_position",
    "PB4": "trial_ttl",
}
WATCH = ["PD6", "PD7", "PB0", "PB1:tone", "PB2:pwm", "PB4"]
STEP_S = 0.05  # the longest the thread runs the board blind (so it can be stopped)


class LickportWorld:
    def __init__(
        self, harness: Harness, mouse: World, volume_ul: Callable[[str, float], float]
    ) -> None:
        self.harness, self.mouse, self.volume_ul = harness, mouse, volume_ul
        self.water_ul = 0.0
        self._valve_open: dict[str, int] = {}
        self._tone: str | None = None
        self._trials_started = 0
        self._stop = threading.Event()
        self.error: BaseException | None = None

    def serve(self) -> None:
        """Until :meth:`stop`; an error ends it and is kept in :attr:`error`."""
        try:
            while not self._stop.is_set():
                self.step()
        except BaseException as exc:  # kept for the owner to report
            if not self._stop.is_set():
                self.error = exc

    def stop(self) -> None:
        self._stop.set()

    def step(self) -> None:
        """Act on the mouse's contacts due now, then run to its next one (or an output)."""
        now = self.harness.cycle
        when = self.mouse.next_time()
        if when is not None and round(when * CYCLES_PER_S) <= now:
            for channel, level in self.mouse.act(now / CYCLES_PER_S):
                pin = INPUT_PINS.get(channel)
                if pin is not None:
                    self.harness.set(pin, level)
            when = self.mouse.next_time()
        target = now + round(STEP_S * CYCLES_PER_S)
        if when is not None:
            target = min(max(round(when * CYCLES_PER_S), now + 1), target)
        for out in self.harness.run(target):
            self._output(out.cycle, out.pin, out.value)

    def _output(self, cycle: int, pin: str, value: int) -> None:
        t = cycle / CYCLES_PER_S
        channel = OUTPUT_PINS.get(pin)
        if channel is None:
            return
        if channel == "speaker":
            if value:
                self._tone = min(TONE_HZ, key=lambda ch: abs(TONE_HZ[ch] - value))
                self.mouse.observe(t, self._tone, 1, TONE_HZ[self._tone])
            elif self._tone is not None:
                self.mouse.observe(t, self._tone, 0, None)
                self._tone = None
            return
        if channel.startswith("valve_"):
            side = channel.removeprefix("valve_")
            if value:
                self._valve_open[side] = cycle
            elif side in self._valve_open:
                open_s = (cycle - self._valve_open.pop(side)) / CYCLES_PER_S
                volume = self.volume_ul(side, open_s)
                self.water_ul += volume
                self.mouse.water_delivered(volume)
        if channel == "trial_ttl" and value:
            self._trials_started += 1
            if self._trials_started > 1:
                self.mouse.trial_ended()
        level = value if channel == "pole_position" else int(value > 0)
        self.mouse.observe(t, channel, level, None)


@contextlib.contextmanager
def emulated_board(
    mouse: World, volume_ul: Callable[[str, float], float], *, realtime: bool
) -> Iterator[LickportWorld]:
    """The compiled firmware (built if missing) in a simulated Uno whose pins this world
    watches, the mouse at them; the simulated board closes on exit. Raises ``BuildError``
    or ``HarnessError`` when the board cannot start."""
    elf, binary = ensure_built()
    with Harness(binary, elf, realtime=realtime, watch=WATCH) as harness:
        yield LickportWorld(harness, mouse, volume_ul)
