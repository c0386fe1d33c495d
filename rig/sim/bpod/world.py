"""The emulated Bpod's world: a simulated mouse that sees its outputs and licks its ports.

Output changes of the Bpod's channels reach the mouse under their rig-neutral names (the
hardware config's wiring read backwards); the mouse's port contacts set the Bpod's input
levels at the cycle they happen; valve openings are turned into water by the calibration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from rig.fsm.executor import CYCLES_PER_S
from rig.sim.bpod.firmware import BpodFirmware
from rig.sim.mouse import TONE_HZ, Mouse


class BpodWorld:
    def __init__(
        self,
        firmware: BpodFirmware,
        mouse: Mouse,
        wiring: Mapping[str, str],
        volume_ul: Callable[[str, float], float],
    ) -> None:
        self.firmware, self.mouse, self.volume_ul = firmware, mouse, volume_ul
        outputs = firmware.hw.output_names()
        self._channel_of = {outputs.index(b): ch for ch, b in wiring.items() if b in outputs}
        inputs = firmware.hw.input_names()
        self._input_of = {ch: inputs.index(b) for ch, b in wiring.items() if b in inputs}
        self._valve_open: dict[str, int] = {}
        self._trials_ended = 0
        firmware.on_output = self.on_output

    def on_output(self, index: int, value: int) -> None:
        channel = self._channel_of.get(index)
        if channel is None:
            return
        t = self.firmware.cycle / CYCLES_PER_S
        if channel.startswith("valve_"):
            side = channel.removeprefix("valve_")
            if value:
                self._valve_open[side] = self.firmware.cycle
            elif side in self._valve_open:
                open_s = (self.firmware.cycle - self._valve_open.pop(side)) / CYCLES_PER_S
                self.mouse.water_delivered(self.volume_ul(side, open_s))
        level = value if channel == "pole_position" else int(value > 0)
        self.mouse.observe(t, channel, level, TONE_HZ.get(channel) if value else None)

    def on_cycle(self, firmware: BpodFirmware) -> None:
        """Called by the server after each tick: the mouse's contacts that are due."""
        if firmware.trials_ended != self._trials_ended:
            self._trials_ended = firmware.trials_ended
            self.mouse.trial_ended()
        t = firmware.cycle / CYCLES_PER_S
        when = self.mouse.next_time()
        if when is None or when > t:
            return
        for channel, level in self.mouse.act(t):
            index = self._input_of.get(channel)
            if index is not None:
                firmware.levels[index] = level
