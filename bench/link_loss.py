"""Reliability figure (issue 8): the link to the lick-port board lost 20 times mid-trial.

The real firmware in the simulated Uno, in lockstep (times are the board's, in simulated
cycles). Each time the host queues a trial that holds the left valve open for 10 s (asked
for too much, the worst case) with a 200 ms maximum and a 1 s heartbeat timeout; it sends
heartbeats every 20 ms for a random 0-150 ms after the valve opens, then sends nothing:
the link is lost. 2 s later the link comes back: the host says hello and queues a short
trial. Measured: how long the valve was open, when the board noticed (its watchdog ended
the trial: the time after the last heartbeat), and the time to recover (hello answered,
and the next trial started).
"""

from __future__ import annotations

import random
import statistics
from typing import Any

from rig.devices.lickport import codec
from rig.devices.lickport.compiler import compile_blob
from rig.fsm.model import Output, State, StateMachine
from rig.sim.lickport.harness import CYCLES_PER_S
from rig.sim.lickport.lockstep import board
from rig.sim.lickport.world import WATCH

LOSSES = 20
MS = CYCLES_PER_S / 1000


def _trial(name: str, valve_s: float | None, state_s: float) -> StateMachine:
    valve = Output(channel="valve_left", duration_s=valve_s)
    reward = State(name="Reward", timer_s=state_s, transitions={"Tup": "exit"}, outputs=(valve,))
    return StateMachine(name=name, states=(reward,))


def run() -> dict[str, Any]:
    rng = random.Random(20)
    flood = compile_blob(_trial("flood", None, 10.0))
    short = compile_blob(_trial("short", 0.03, 0.1))
    open_ms, detect_ms, hello_ms, restart_ms = [], [], [], []
    with board([*WATCH]) as b:
        b.configure(heartbeat_ms=1000, max_open_ms=(200, 200))
        trial = 0
        for _ in range(LOSSES):
            trial += 1
            b.client.send_machine(flood, trial)
            opened = b.run_until_edge("PD6", 1).cycle
            last_beat = b.cycle
            alive_until = opened + rng.uniform(0, 150) * MS
            while b.cycle + 20 * MS < alive_until:
                b.run_for(0.02)
                b.client.heartbeat()
                last_beat = b.cycle
            closed = b.run_until_edge("PD6", 0, limit_s=3).cycle  # nothing sent from here
            open_ms.append((closed - opened) / MS)
            seen = len(b.messages)
            b.run_for(2.0)
            end = next(m for m in b.messages[seen:]
                       if isinstance(m, codec.Event) and m.kind == "trial_end")  # fmt: skip
            assert end.name == "watchdog"
            start = next(m for m in b.events() if m.kind == "trial_start" and m.value == trial)
            # the valve rose at the trial's start: board time = start + (cycle - opened)
            detect_ms.append((end.t_us - start.t_us) / 1000 - (last_beat - opened) / MS)
            back = b.cycle  # the link is back
            b.client.write(codec.hello())
            b.run_until_message(codec.Hello)
            hello_ms.append((b.cycle - back) / MS)
            trial += 1
            b.client.send_machine(short, trial)
            b.client.heartbeat()
            b.run_until_edge("PD6", 1)
            restart_ms.append((b.cycle - back) / MS)
            b.run_for(0.2)
    return {
        "losses": LOSSES,
        "valve_open_ms_max": round(max(open_ms), 2),
        "valve_open_ms_median": round(statistics.median(open_ms), 2),
        "valve_maximum_ms": 200,
        "watchdog_after_last_heartbeat_ms_median": round(statistics.median(detect_ms), 1),
        "watchdog_after_last_heartbeat_ms_max": round(max(detect_ms), 1),
        "recover_hello_answered_ms_max": round(max(hello_ms), 2),
        "recover_next_trial_valve_ms_max": round(max(restart_ms), 2),
    }
