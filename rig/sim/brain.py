"""What a simulated mouse knows: its memories of stimulus -> side mappings, and how it learns.

The mouse is not told the context. It keeps a few *memories*, each a set of associations
from a stimulus it perceives (``pole100``, ``tone10000``) to a side (+1 right, -1 left), and
each with a *credibility*: how well it has predicted the correct side lately. Its choice
follows the credibility-weighted evidence of all memories; only the most credible memory
learns from reward. When every memory keeps predicting wrong, it opens a new one.

That gives the shape of the paper's Fig. 1f without naming contexts: in a reversal (T2)
the old memory first drives choices the wrong way until its credibility falls (slow at
first), then a new memory is learned from scratch; on a return (T1') the old memory is
still there and only has to regain credibility, which is faster than learning it anew.

Everything here is pure and JSON-serialisable (:meth:`Brain.to_json`), so the learned
state is saved with the subject and carries over to the next session.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, field
from typing import Any

MAX_MEMORIES = 6


@dataclass
class Traits:
    """Fixed per mouse, drawn once when the mouse is created."""

    learning_rate: float = 0.0025  # association change per informative trial
    credibility_rate: float = 0.015
    new_memory_below: float = -0.1  # open a new memory when every credibility is below
    protect_above: float = 0.2  # a memory this sure of the other side is not overwritten
    inverse_temperature: float = 4.0
    attention: float = 6.0  # how sharply credibility selects the memory that drives choice
    lapse: float = 0.04
    side_bias: float = 0.0  # + towards right, in units of evidence
    early_lick_start: float = 0.45  # P(early lick in a 2.6 s sample+delay) when untrained
    early_lick_floor: float = 0.06
    early_lick_tau_trials: float = 2500.0
    latency_median_s: float = 0.2
    latency_sigma: float = 0.35
    lick_interval_s: float = 0.14
    contact_s: float = 0.04
    capacity_ul: float = 1000.0  # water per session before it loses interest
    disengage_p: float = 0.01
    reengage_p: float = 0.25

    @classmethod
    def draw(cls, rng: random.Random) -> Traits:
        def around(x: float, spread: float) -> float:
            return x * math.exp(rng.gauss(0.0, spread))

        return cls(
            learning_rate=around(0.0025, 0.25),
            credibility_rate=around(0.015, 0.25),
            inverse_temperature=around(4.0, 0.1),
            lapse=around(0.04, 0.3),
            side_bias=rng.gauss(0.0, 0.25),
            early_lick_start=min(0.8, around(0.45, 0.2)),
            latency_median_s=around(0.2, 0.2),
            capacity_ul=around(1000.0, 0.15),
        )


@dataclass
class Memory:
    associations: dict[str, float] = field(default_factory=dict)  # stimulus -> [-1, 1]
    credibility: float = 0.0


@dataclass
class Brain:
    traits: Traits
    memories: list[Memory] = field(default_factory=lambda: [Memory()])
    trials: int = 0  # trials experienced, for the early-lick decline

    @classmethod
    def new(
        cls, rng: random.Random, shaped_on: dict[str, str] | None = None, strength: float = 0.35
    ) -> Brain:
        """A naive mouse, or one that finished shaping on ``shaped_on`` (stimulus -> side)."""
        brain = cls(Traits.draw(rng))
        if shaped_on:
            brain.memories[0] = Memory(
                {s: strength * (1.0 if side == "right" else -1.0) for s, side in shaped_on.items()},
                credibility=strength,
            )
            brain.trials = 1500  # shaping takes about this many trials
        return brain

    def _weights(self) -> list[float]:
        a = self.traits.attention
        top = max(m.credibility for m in self.memories)
        raw = [math.exp(a * (m.credibility - top)) for m in self.memories]
        total = sum(raw)
        return [r / total for r in raw]

    def evidence_right(self, stimulus: str) -> float:
        return sum(
            w * m.associations.get(stimulus, 0.0)
            for w, m in zip(self._weights(), self.memories, strict=True)
        )

    def p_right(self, stimulus: str) -> float:
        t = self.traits
        x = t.inverse_temperature * self.evidence_right(stimulus) + t.side_bias
        return t.lapse / 2 + (1 - t.lapse) / (1 + math.exp(-x))

    def p_early_lick(self) -> float:
        t = self.traits
        return t.early_lick_floor + (t.early_lick_start - t.early_lick_floor) * math.exp(
            -self.trials / t.early_lick_tau_trials
        )

    def learn(self, stimulus: str, correct_side: str) -> None:
        """After a responded trial: the correct side, as the mouse inferred it from water."""
        t = self.traits
        y = 1.0 if correct_side == "right" else -1.0
        for m in self.memories:
            if stimulus in m.associations:
                m.credibility += t.credibility_rate * (m.associations[stimulus] * y - m.credibility)
            else:
                m.credibility -= t.credibility_rate * m.credibility
        if max(m.credibility for m in self.memories) < t.new_memory_below:
            if len(self.memories) >= MAX_MEMORIES:  # forget the least credible
                self.memories.remove(min(self.memories, key=lambda m: m.credibility))
            self.memories.append(Memory())
        active = max(self.memories, key=lambda m: m.credibility)
        old = active.associations.get(stimulus, 0.0)
        # A memory that confidently predicted the other side is protected: the surprise is
        # blamed on a changed world (its credibility falls), not written over the memory.
        rate = t.learning_rate if old * y >= -t.protect_above else t.learning_rate * 0.05
        active.associations[stimulus] = old + rate * (y - old)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Brain:
        return cls(
            traits=Traits(**data["traits"]),
            memories=[Memory(**m) for m in data["memories"]],
            trials=data["trials"],
        )
