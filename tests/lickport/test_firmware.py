"""The real firmware, compiled for the Uno, in a simulated ATmega328P (fast mode), driven
in lockstep: inputs applied at exact simulated cycles, outputs seen at theirs."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rig.devices.lickport import codec
from rig.devices.lickport.compiler import compile_blob
from rig.fsm.executor import CYCLE_S, CYCLES_PER_S, ReferenceExecutor
from rig.fsm.model import Output, State, StateMachine
from rig.sim.lickport.harness import CYCLES_PER_S as AVR_HZ
from rig.sim.lickport.lockstep import Board, board
from rig.sim.lickport.world import INPUT_PINS, WATCH

TOLERANCE_S = 104e-6  # the reference's 100 us cycle + the board's 4 us clock tick
LINES = ("lick_left", "lick_right", "frame_clock", "aux")
Trace = list[tuple[str, str, int, float]]


@pytest.fixture(scope="module")
def lockstep() -> Iterator[Board]:
    with board([*WATCH, "PB3"]) as b:
        ack = b.configure(heartbeat_ms=60_000, max_open_ms=(1000, 1000), debounce_us=0,
                          bitcode=True)  # fmt: skip
        assert isinstance(ack, codec.Ack) and ack.of == "C"
        yield b


# -- random machines and input timelines ------------------------------------------------------
OUTPUTS = st.one_of(
    st.builds(
        Output,
        channel=st.sampled_from(["valve_left", "valve_right", "pole_drop"]),
        duration_s=st.none() | st.integers(1, 500).map(lambda c: c * CYCLE_S),
    ),
    st.builds(
        Output,
        channel=st.just("go_cue"),
        freq_hz=st.just(3700.0),
        duration_s=st.none() | st.just(0.1),
    ),
    st.builds(Output, channel=st.just("pole_position"), value=st.integers(1, 255)),
)
EVENTS = st.sampled_from([f"{line}{off}" for line in LINES for off in ("", "_off")])


@st.composite
def machines(draw: st.DrawFn) -> StateMachine:
    n = draw(st.integers(1, 6))
    names = [f"S{i}" for i in range(n)]
    states = [
        State(
            name="Start",
            timer_s=0.001,
            transitions={"Tup": "S0"},
            outputs=(Output(channel="trial_ttl"),),
        )
    ]
    for i in range(n):
        transitions = {"Tup": names[i + 1] if i + 1 < n else "exit"}
        for event in draw(st.lists(EVENTS, max_size=3, unique=True)):
            transitions[event] = draw(st.sampled_from([*names, "exit"]))
        outputs = draw(st.lists(OUTPUTS, max_size=2, unique_by=lambda o: o.channel))
        timer = draw(st.integers(100, 2000)) * CYCLE_S  # 10-200 ms: within the line's rate
        states.append(
            State(name=names[i], timer_s=timer, transitions=transitions, outputs=tuple(outputs))
        )
    return StateMachine(name="random", states=tuple(states))


@st.composite
def timelines(draw: st.DrawFn) -> list[tuple[float, str, int]]:
    """Edges (time from the trial's start, line, level); each line starts low."""
    times = draw(st.lists(st.integers(2_000, 1_500_000), max_size=8, unique=True))
    levels = dict.fromkeys(LINES, 0)
    edges = []
    for t_us in sorted(times):
        line = draw(st.sampled_from(LINES))
        levels[line] ^= 1
        edges.append((t_us / 1e6, line, levels[line]))
    return edges


# -- the two executors -------------------------------------------------------------------------
def reference(machine: StateMachine, timeline: list[tuple[float, str, int]]) -> Trace:
    ex = ReferenceExecutor()
    ex.load(machine, 1)
    ex.start(0)
    records = ex.tick(0, [])
    pending = sorted(
        (math.ceil(t * CYCLES_PER_S - 1e-9), line, level) for t, line, level in timeline
    )
    while ex.running:
        deadline = ex.next_deadline()
        next_edge = pending[0][0] if pending else None
        if next_edge is not None and (deadline is None or next_edge <= deadline):
            edges = [(line, level) for c, line, level in pending if c == next_edge]
            pending = [p for p in pending if p[0] != next_edge]
            records += ex.tick(next_edge, edges)
        else:
            assert deadline is not None
            records += ex.tick(deadline, [])
    return normalise([(r.kind, r.name, r.value, r.cycle * CYCLE_S) for r in records])


def on_the_board(
    b: Board, machine: StateMachine, timeline: list[tuple[float, str, int]], trial: int
) -> Trace:
    """The board's trace, the inputs applied at their cycles from the trial TTL's rise."""
    seen = len(b.messages)
    b.client.send_machine(compile_blob(machine), trial)
    start = b.run_until_edge("PB4", 1).cycle  # the trial TTL: the machine's first state
    for t, line, level in timeline:
        b.run_to(start + round(t * AVR_HZ))
        b.harness.set(INPUT_PINS[line], level)
    limit = b.cycle + 5 * AVR_HZ
    while not any(isinstance(m, codec.Event) and m.kind == "trial_end" for m in b.messages[seen:]):
        assert b.cycle < limit, f"no trial end: {b.messages[seen:][-5:]}"
        b.run_for(0.005)
    for line in LINES:  # idle again, every line low (no events while idle)
        b.harness.set(INPUT_PINS[line], 0)
    events = [m for m in b.messages[seen:] if isinstance(m, codec.Event)]
    assert events[0].kind == "trial_start" and events[0].value == trial
    t0 = events[0].t_us
    names = [s.name for s in machine.states]
    return normalise(
        [
            (
                e.kind,
                names[e.value] if e.kind == "state" else "" if e.kind == "trial_end" else e.name,
                e.value if e.kind == "output" else 0,
                (e.t_us - t0) / 1e6,
            )
            for e in events
        ]
    )


def normalise(trace: Trace) -> Trace:
    """Output records between two other records, by channel (their order is arbitrary);
    the trial start's number and the state index dropped."""
    out: Trace = []
    run: Trace = []
    for kind, name, value, t in trace:
        if kind == "output":
            run.append((kind, name, value, t))
            continue
        out += sorted(run, key=lambda r: r[1])
        run = []
        out.append((kind, name, 0, t))
    return out + sorted(run, key=lambda r: r[1])


def unambiguous(ref: Trace, timeline: list[tuple[float, str, int]]) -> bool:
    """No input within 1 ms of another input or of a timer's or pulse's end: where the
    reference's 100 us cycle, the board's microseconds and its loop may order events
    differently."""
    times = [t for t, _, _ in timeline]
    deadlines = [t for kind, name, value, t in ref if (kind, name) == ("input", "Tup")]
    entries = {t for kind, _, _, t in ref if kind in ("state", "trial_end")}
    deadlines += [
        t for kind, _, value, t in ref if kind == "output" and not value and t not in entries
    ]
    marks = sorted([(t, "in") for t in times] + [(t, "dl") for t in deadlines])
    return all(b[0] - a[0] >= 1e-3 for a, b in itertools.pairwise(marks) if "in" in (a[1], b[1]))


def seen(fw: Trace) -> list[tuple[float, str, int]]:
    """The input edges as the board stamped them: the timeline both executors are given
    (how late the board sees an edge is the latency benchmark's business)."""
    return [
        (t, name.removesuffix("_off"), int(not name.endswith("_off")))
        for kind, name, _, t in fw
        if kind == "input" and name != "Tup"
    ]


def assert_same(ref: Trace, fw: Trace) -> None:
    assert [r[:3] for r in fw] == [r[:3] for r in ref]
    worst = max(abs(f[3] - r[3]) for f, r in zip(fw, ref, strict=True))
    assert worst <= TOLERANCE_S, f"times differ by up to {worst * 1e6:.0f} us"


_trials = iter(range(1, 10_000))


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)
@given(machine=machines(), timeline=timelines())
def test_the_firmware_runs_machines_as_the_reference_does(
    lockstep: Board, machine: StateMachine, timeline: list[tuple[float, str, int]]
) -> None:
    assume(unambiguous(reference(machine, timeline), timeline))
    fw = on_the_board(lockstep, machine, timeline, next(_trials))
    assert len(seen(fw)) <= len(timeline)
    assert_same(reference(machine, seen(fw)), fw)
