"""A simulated mouse on the rig: it perceives the rig's outputs and licks.

It sees what a mouse would: the pole dropping at a position, a sample tone, the go cue,
water arriving at a port. It licks in bouts (one lick every ~0.14 s, ~40 ms of contact),
answers the go cue after a lognormal latency, sometimes licks early during the sample and
delay (less so with training), has a side bias, drinks, gets sated and then disengages, and
learns the stimulus-to-side mapping from water (see :mod:`rig.sim.brain`).

It is event-driven and pure: :meth:`Mouse.observe` tells it about an output change,
:meth:`Mouse.next_time` says when it will next touch or leave a port, and :meth:`Mouse.act`
makes it do so. All randomness comes from one seeded :class:`random.Random`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from rig.sim.brain import Brain

SAMPLE_TONES = {"sample_tone_high", "sample_tone_low"}
# The tone each tone channel plays on an emulated device (a Bpod gates its tones by channel;
# the lick-port board plays them on one speaker, told apart by frequency).
TONE_HZ = {"sample_tone_high": 10_000.0, "sample_tone_low": 2_000.0, "go_cue": 3_700.0}
VALVES = {"valve_left": "left", "valve_right": "right"}
PORT = {"left": "lick_left", "right": "lick_right"}


@dataclass
class _Trial:
    stimulus: str | None = None
    choice: str | None = None
    engaged: bool = True
    responded: str | None = None
    rewarded: bool = False
    cue_seen: bool = False
    water_before_cue: str | None = None


class Mouse:
    def __init__(self, brain: Brain, rng: random.Random) -> None:
        self.brain = brain
        self.rng = rng
        self.water_ul = 0.0
        self.engaged = True
        self.pole_position = 0
        self._trial = _Trial()
        self._licks: list[tuple[float, str, bool]] = []  # (time, side, touching), sorted
        self._early_rate = 0.0  # anticipatory licks per second while waiting for the cue
        self._next_early: float | None = None
        self._bout_left = 0
        self._bout_side = "left"
        self._last_lick = -1.0

    # -- perception ---------------------------------------------------------------------
    def observe(self, t: float, channel: str, value: int, freq_hz: float | None) -> None:
        if channel == "pole_position":
            self.pole_position = value
        elif channel == "pole_drop" and value:
            self._stimulus_onset(t, f"pole{self.pole_position}")
        elif channel in SAMPLE_TONES and value:
            self._stimulus_onset(t, f"tone{round(freq_hz or 0)}")
        elif channel == "go_cue" and value:
            self._go_cue(t)
        elif channel in VALVES and value:
            self._water(t, VALVES[channel])

    def water_delivered(self, volume_ul: float) -> None:
        self.water_ul += volume_ul

    def trial_ended(self) -> None:
        """Learn from the trial that just ended, as the mouse experienced it."""
        trial = self._trial
        if trial.stimulus is not None and trial.responded is not None:
            correct = trial.responded if trial.rewarded else _other(trial.responded)
            self.brain.learn(trial.stimulus, correct)
        self.brain.trials += 1
        self._trial = _Trial()
        self._early_rate = 0.0
        self._next_early = None  # an aborted trial leaves no early lick pending

    # -- acting -------------------------------------------------------------------------
    def next_time(self) -> float | None:
        early = self._next_early
        planned = self._licks[0][0] if self._licks else None
        if early is None:
            return planned
        return early if planned is None else min(early, planned)

    def act(self, t: float) -> list[tuple[str, int]]:
        """Port contacts that change at ``t``: (channel, level)."""
        changes: list[tuple[str, int]] = []
        if self._next_early is not None and self._next_early <= t:
            self._next_early = None
            side = self._trial.choice or self.rng.choice(("left", "right"))
            self._schedule_lick(t, side)
            self._early_rate *= 0.5  # an early lick that restarts the epoch makes it wary
            self._plan_early(t)
        while self._licks and self._licks[0][0] <= t:
            when, side, touching = self._licks.pop(0)
            changes.append((PORT[side], int(touching)))
            if touching:
                self._after_lick(when, side)
        return changes

    def _stimulus_onset(self, t: float, stimulus: str) -> None:
        trial = self._trial
        if trial.stimulus is not None:
            return  # the same trial's stimulus again (an epoch restart)
        trial.stimulus = stimulus
        self._update_engagement()
        trial.engaged = self.engaged
        if not trial.engaged:
            return
        trial.choice = "right" if self.rng.random() < self.brain.p_right(stimulus) else "left"
        p = self.brain.p_early_lick()
        self._early_rate = -math.log(1.0 - p) / 2.6
        self._plan_early(t)

    def _update_engagement(self) -> None:
        t = self.brain.traits
        sated = 1.0 / (1.0 + math.exp(-(self.water_ul / t.capacity_ul - 1.0) / 0.08))
        if self.engaged:
            self.engaged = self.rng.random() >= t.disengage_p + 0.5 * sated
        else:
            self.engaged = self.rng.random() < t.reengage_p * (1.0 - sated)

    def _plan_early(self, t: float) -> None:
        if self._early_rate <= 0.0:
            self._next_early = None
            return
        self._next_early = t + self.rng.expovariate(self._early_rate)

    def _go_cue(self, t: float) -> None:
        trial = self._trial
        trial.cue_seen = True
        self._next_early = None
        self._early_rate = 0.0
        if not trial.engaged:
            return
        side = trial.water_before_cue or trial.choice or self.rng.choice(("left", "right"))
        traits = self.brain.traits
        latency = traits.latency_median_s * math.exp(self.rng.gauss(0.0, traits.latency_sigma))
        self._bout_left = 2 + int(self.rng.expovariate(0.5))
        self._bout_side = side
        self._licks = [x for x in self._licks if not x[2]]  # keep only pending releases
        self._schedule_lick(t + max(latency, 0.03), side)

    def _water(self, t: float, side: str) -> None:
        trial = self._trial
        if not trial.cue_seen:
            trial.water_before_cue = side  # a free drop: it will go for it
            return
        if trial.responded == side:
            trial.rewarded = True
            self._bout_left += 5 + int(self.rng.expovariate(0.3))  # drink it up

    def _schedule_lick(self, t: float, side: str) -> None:
        t = max(t, self._last_lick + 0.06)
        contact = self.brain.traits.contact_s * math.exp(self.rng.gauss(0.0, 0.2))
        self._licks.append((t, side, True))
        self._licks.append((t + contact, side, False))
        self._licks.sort()
        self._last_lick = t + contact

    def _after_lick(self, t: float, side: str) -> None:
        trial = self._trial
        if trial.cue_seen and trial.responded is None and trial.engaged:
            trial.responded = side
        if trial.cue_seen and self._bout_left > 0:
            self._bout_left -= 1
            interval = self.brain.traits.lick_interval_s * math.exp(self.rng.gauss(0.0, 0.12))
            self._schedule_lick(t + interval, self._bout_side)


def _other(side: str) -> str:
    return "right" if side == "left" else "left"
