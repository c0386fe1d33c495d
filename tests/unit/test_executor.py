"""Table-driven tests of rig.fsm.executor: one test per row of the module docstring's table.

The executor is driven directly: load a machine, start it at a cycle, then tick at the
cycles it asks for (``next_deadline``) or where input edges are injected.
"""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rig.fsm.executor import CYCLE_S, Record, ReferenceExecutor, compile_machine, to_cycles
from rig.fsm.model import EXIT, TUP, Output, State, StateMachine
from rig.schema.hardware import INPUT_CHANNELS

T0 = 1000  # the cycle at which trials start, unless a test says otherwise

# --- helpers -----------------------------------------------------------------------------


def S(name: str, timer_s: float = 0.0, *outputs: Output, **transitions: str) -> State:
    return State(name=name, timer_s=timer_s, transitions=transitions, outputs=outputs)


def held(channel: str, value: int = 1, freq_hz: float | None = None) -> Output:
    return Output(channel=channel, value=value, freq_hz=freq_hz)


def pulse(channel: str, duration_s: float, value: int = 1) -> Output:
    return Output(channel=channel, value=value, duration_s=duration_s)


def machine(*states: State) -> StateMachine:
    return StateMachine(states=states)


Edges = dict[int, list[tuple[str, int]]]


class Driver:
    """Runs an executor like a device would: tick at the earliest deadline or input edge."""

    def __init__(self, m: StateMachine, trial: int = 1, start: int = T0) -> None:
        self.ex = ReferenceExecutor()
        self.ex.load(m, trial=trial)
        self.ex.start(start)
        self.records: list[Record] = []
        self.ticks: list[int] = []

    def tick(self, cycle: int, edges: list[tuple[str, int]] | None = None) -> list[Record]:
        out = self.ex.tick(cycle, edges or [])
        self.ticks.append(cycle)
        self.records += out
        return out

    def run(self, edges: Edges | None = None, until: int | None = None) -> list[Record]:
        """Tick through deadlines and edge cycles (up to ``until``); return the new records."""
        pending = dict(edges or {})
        out: list[Record] = []
        for _ in range(10_000):
            deadline = self.ex.next_deadline()
            candidates = [c for c in (deadline, min(pending, default=None)) if c is not None]
            if not candidates:
                return out
            cycle = min(candidates)
            if until is not None and cycle > until:
                return out
            out += self.tick(cycle, pending.pop(cycle, []))
        raise AssertionError("the executor never settled")


def brief(records: list[Record]) -> list[tuple[str, int, str, int]]:
    """(kind, cycle relative to T0, name, value) for compact comparisons."""
    return [(r.kind, r.cycle - T0, r.name, r.value) for r in records]


def at(records: list[Record], cycle: int) -> list[tuple[str, int, str, int]]:
    return [b for b in brief(records) if b[1] == cycle - T0]


def outputs_at(records: list[Record], cycle: int) -> Counter[tuple[str, int]]:
    return Counter((r.name, r.value) for r in records if r.kind == "output" and r.cycle == cycle)


def kinds(records: list[Record], kind: str) -> list[tuple[int, str]]:
    return [(r.cycle - T0, r.name) for r in records if r.kind == kind]


# --- row 1: clock ------------------------------------------------------------------------


def test_row01_clock_one_cycle_is_100_us():
    assert pytest.approx(1e-4) == CYCLE_S
    assert to_cycles(1.0) == 10_000
    assert to_cycles(0.0001) == 1
    d = Driver(machine(S("wait", 1.0, Tup=EXIT)))
    d.tick(T0)
    assert d.ex.next_deadline() == T0 + 10_000
    assert at(d.run(), T0 + 10_000)[-1] == ("trial_end", 10_000, "", 0)


# --- row 2: trial start ------------------------------------------------------------------


def test_row02_trial_start_enters_first_state_with_its_outputs_and_no_events():
    m = machine(
        S("first", 0.001, held("pole_drop"), pulse("go_cue", 0.0005), lick_left=EXIT, Tup="next"),
        S("next", 0.001, Tup=EXIT),
    )
    d = Driver(m, trial=7)
    assert d.ex.next_deadline() == T0
    assert d.ex.current_state is None
    out = d.tick(T0, [("lick_left", 1), ("aux", 1)])
    assert brief(out) == [
        ("trial_start", 0, "", 0),
        ("state", 0, "first", 0),
        ("output", 0, "pole_drop", 1),
        ("output", 0, "go_cue", 1),
    ]
    assert all(r.trial == 7 for r in out)
    assert d.ex.running and not d.ex.idle
    assert d.ex.trial == 7
    assert d.ex.trial_start_cycle == T0
    assert d.ex.current_state == "first"
    # the lick at cycle 0 made no event and no transition; the go cue pulse is the next thing
    assert d.ex.next_deadline() == T0 + 5


# --- row 3: input edges ------------------------------------------------------------------


def test_row03_edges_at_cycle0_or_while_idle_make_no_event():
    m = machine(S("a", lick_left=EXIT, lick_right="b"), S("b", lick_left=EXIT))
    ex = ReferenceExecutor()
    assert ex.idle and not ex.has_queued
    assert ex.next_deadline() is None
    assert ex.tick(5, [("lick_left", 1)]) == []  # idle, nothing loaded
    ex.load(m, trial=1)
    assert ex.tick(6, [("lick_left", 0)]) == []  # loaded but not started
    ex.start(T0)
    assert ex.tick(T0 - 1, [("lick_left", 1)]) == []  # started later
    assert [r.kind for r in ex.tick(T0, [("lick_left", 0), ("lick_right", 1)])] == [
        "trial_start",
        "state",
    ]
    assert ex.current_state == "a"
    assert brief(ex.tick(T0 + 1, [("lick_left", 1)])) == [
        ("input", 1, "lick_left", 0),
        ("trial_end", 1, "", 0),
    ]
    assert ex.idle
    assert ex.tick(T0 + 2, [("lick_left", 0), ("lick_right", 1)]) == []  # idle again
    assert ex.next_deadline() is None


def test_row03_edge_levels_name_onset_and_offset_events():
    m = machine(S("a", 0.01, Tup=EXIT))
    d = Driver(m)
    d.tick(T0)
    out = d.tick(T0 + 1, [(ch, 1) for ch in INPUT_CHANNELS])
    out += d.tick(T0 + 2, [(ch, 0) for ch in INPUT_CHANNELS])
    assert kinds(out, "input") == [(1, ch) for ch in INPUT_CHANNELS] + [
        (2, f"{ch}_off") for ch in INPUT_CHANNELS
    ]


# --- row 4: state timer ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timer_s", "cycles"),
    [
        (0.0, 1),
        (0.00004, 1),
        (0.0001, 1),
        (0.00014, 1),
        (0.00016, 2),
        (0.0003, 3),
        (0.0007, 7),
        (0.1, 1000),
        (1.5, 15_000),
        (2.00004, 20_000),
    ],
)
def test_row04_state_timer_rounds_and_lasts_at_least_one_cycle(timer_s, cycles):
    assert to_cycles(timer_s) == cycles
    d = Driver(machine(S("a", timer_s, Tup="b"), S("b", 0.0, Tup=EXIT)))
    d.tick(T0)
    assert d.ex.next_deadline() == T0 + cycles
    out = d.run()
    assert kinds(out, "input") == [(cycles, TUP), (cycles + 1, TUP)]
    assert kinds(out, "state") == [(cycles, "b")]
    assert kinds(out, "trial_end") == [(cycles + 1, "")]
    assert d.ticks == [T0, T0 + cycles, T0 + cycles + 1]


def test_row04_unhandled_tup_state_reports_no_tup():
    m = machine(
        S("no_tup", 0.001, lick_left="self_tup"),
        S("self_tup", 0.001, lick_left=EXIT, Tup="self_tup"),
    )
    d = Driver(m)
    d.tick(T0)
    assert d.ex.next_deadline() is None  # nothing will happen without input
    assert d.tick(T0 + 10) == [] and d.tick(T0 + 50) == []
    d.tick(T0 + 60, [("lick_left", 1)])
    assert d.ex.current_state == "self_tup"
    # Tup -> itself is a self transition: no Tup, no timer deadline either
    assert d.ex.next_deadline() is None
    assert d.tick(T0 + 70) == [] and d.tick(T0 + 200) == []
    d.tick(T0 + 300, [("lick_left", 1)])
    assert TUP not in [r.name for r in d.records]
    assert kinds(d.records, "trial_end") == [(300, "")]


def test_row04_half_cycle_timer_rounds_half_up_like_the_bpod_matlab_host():
    """to_cycles says it rounds "as the Bpod's MATLAB host does": Bpod_Gen2's SendStateMachine
    converts with uint32(timer * CycleFrequency), which rounds halves away from zero. Python's
    round() rounds halves to even, so 0.25 ms gives 2 cycles instead of 3."""
    assert 0.00025 / CYCLE_S == 2.5  # exactly half
    assert to_cycles(0.00025) == 3
    assert to_cycles(0.00045) == 5
    assert to_cycles(0.00125) == 13


# --- row 5: one cycle, several events ----------------------------------------------------


@pytest.mark.parametrize(
    ("transitions", "edges", "winner"),
    [
        # all handled, to different states: lick_left first
        (
            {"lick_left": "L", "lick_right": "R", "aux": "X", TUP: "T"},
            ["aux", "lick_right", "lick_left"],
            "L",
        ),
        # lick_left points at the current state: the next one with another target wins
        ({"lick_left": "a", "lick_right": "R", TUP: "T"}, ["lick_right", "lick_left"], "R"),
        # inputs unhandled: Tup wins
        ({TUP: "T"}, ["frame_clock", "lick_left"], "T"),
        # inputs self-targeted: Tup wins
        ({"lick_left": "a", "lick_right": "a", TUP: "T"}, ["lick_right", "lick_left"], "T"),
        # frame_clock before aux
        ({"aux": "X", "frame_clock": "F", TUP: "T"}, ["aux", "frame_clock"], "F"),
        # exit competes like any other target
        ({"lick_right": EXIT, "aux": "X", TUP: "T"}, ["aux", "lick_right"], EXIT),
    ],
    ids=[
        "left_first",
        "self_skipped",
        "tup_unhandled_inputs",
        "tup_after_self",
        "fc_first",
        "exit",
    ],
)
def test_row05_same_cycle_events_all_recorded_in_channel_order_first_other_target_wins(
    transitions, edges, winner
):
    others = [S(n, 0.01, Tup=EXIT) for n in sorted(set(transitions.values()) - {"a", EXIT})]
    d = Driver(machine(S("a", 0.001, **transitions), *others))
    d.tick(T0)
    out = d.tick(T0 + 10, [(ch, 1) for ch in edges])  # the Tup cycle
    order = [ch for ch in INPUT_CHANNELS if ch in edges] + [TUP]
    assert kinds(out, "input") == [(10, e) for e in order]
    if winner == EXIT:
        assert kinds(out, "state") == []
        assert kinds(out, "trial_end") == [(10, "")]
    else:
        assert kinds(out, "state") == [(10, winner)]  # one transition only
        assert d.ex.current_state == winner
    assert out.index(next(r for r in out if r.kind != "input")) == len(order)  # events first


def test_row05_at_most_one_transition_per_cycle_even_when_the_new_state_times_out_at_once():
    # b has a 0 s timer: its Tup is one cycle later, not in the cycle it is entered
    m = machine(S("a", lick_left="b"), S("b", 0.0, Tup="c"), S("c", 0.0, Tup=EXIT))
    d = Driver(m)
    d.tick(T0)
    d.run({T0 + 4: [("lick_left", 1)]})
    assert kinds(d.records, "state") == [(0, "a"), (4, "b"), (5, "c")]
    assert kinds(d.records, "trial_end") == [(6, "")]


# --- row 6: transition time --------------------------------------------------------------


def test_row06_new_state_entered_and_its_outputs_applied_in_the_event_cycle():
    m = machine(
        S("wait", lick_left="reward"),
        S("reward", 0.002, pulse("valve_left", 0.0005), held("trial_ttl"), Tup=EXIT),
    )
    d = Driver(m)
    d.tick(T0)
    out = d.tick(T0 + 37, [("lick_left", 1)])
    assert brief(out) == [
        ("input", 37, "lick_left", 0),
        ("state", 37, "reward", 0),
        ("output", 37, "trial_ttl", 1),
        ("output", 37, "valve_left", 1),
    ]
    # the new state's timer and pulse count from the event cycle
    assert d.ex.next_deadline() == T0 + 37 + 5
    d.run()
    assert kinds(d.records, "input")[-1] == (37 + 20, TUP)


# --- row 7: self transitions -------------------------------------------------------------


def test_row07_self_transition_does_nothing_and_does_not_restart_the_timer():
    m = machine(
        S("a", 0.001, held("pole_drop"), pulse("go_cue", 0.0005), lick_left="a", Tup=EXIT),
    )
    d = Driver(m)
    d.tick(T0)
    out = d.tick(T0 + 4, [("lick_left", 1)])
    assert brief(out) == [("input", 4, "lick_left", 0)]  # recorded, nothing else
    assert d.ex.next_deadline() == T0 + 5  # the pulse still ends on time
    assert brief(d.tick(T0 + 5)) == [("output", 5, "go_cue", 0)]
    assert d.ex.next_deadline() == T0 + 10  # Tup not restarted by the lick at 4
    out = d.run()
    assert brief(out) == [
        ("input", 10, TUP, 0),
        ("output", 10, "pole_drop", 0),
        ("trial_end", 10, "", 0),
    ]


def test_row07_restart_through_another_state_restarts_the_timer():
    m = machine(
        S("a", 0.001, lick_left="bounce", Tup=EXIT),
        S("bounce", 0.0, Tup="a"),
    )
    d = Driver(m)
    d.tick(T0)
    d.run({T0 + 4: [("lick_left", 1)]})
    assert kinds(d.records, "state") == [(0, "a"), (4, "bounce"), (5, "a")]
    assert kinds(d.records, "trial_end") == [(15, "")]


# --- row 8: held outputs at exit ---------------------------------------------------------


def test_row08_held_output_switched_off_when_the_state_is_left():
    m = machine(S("a", 0.001, held("pole_drop"), Tup="b"), S("b", 0.001, Tup=EXIT))
    d = Driver(m)
    d.tick(T0)
    d.run()
    assert outputs_at(d.records, T0) == Counter({("pole_drop", 1): 1})
    assert outputs_at(d.records, T0 + 10) == Counter({("pole_drop", 0): 1})
    assert outputs_at(d.records, T0 + 20) == Counter()  # nothing left on at the exit


def test_row08_same_channel_held_by_next_state_has_no_gap():
    m = machine(
        S("a", 0.001, held("pole_drop"), Tup="b"),
        S("b", 0.001, held("pole_drop"), Tup=EXIT),
    )
    d = Driver(m)
    d.tick(T0)
    d.run()
    assert at(d.records, T0 + 10) == [("input", 10, TUP, 0), ("state", 10, "b", 0)]
    assert outputs_at(d.records, T0 + 20) == Counter({("pole_drop", 0): 1})


def test_row08_changed_value_of_a_held_channel_is_reported_without_an_off():
    m = machine(
        S("a", 0.001, held("pole_position", 3), Tup="b"),
        S("b", 0.001, held("pole_position", 7), Tup=EXIT),
    )
    d = Driver(m)
    d.tick(T0)
    d.run()
    assert outputs_at(d.records, T0 + 10) == Counter({("pole_position", 7): 1})
    assert outputs_at(d.records, T0 + 20) == Counter({("pole_position", 0): 1})


def test_row08_changed_tone_frequency_of_a_held_channel_is_reported():
    """A held tone whose frequency changes between states changes the output, like a changed
    value does; the executor compares values only and drops the new frequency."""
    m = machine(
        S("a", 0.001, held("sample_tone_high", 1, 5000.0), Tup="b"),
        S("b", 0.001, held("sample_tone_high", 1, 3000.0), Tup=EXIT),
    )
    d = Driver(m)
    d.tick(T0)
    d.run()
    changes = [r for r in d.records if r.kind == "output" and r.cycle == T0 + 10]
    assert [(r.name, r.value, r.freq_hz) for r in changes] == [("sample_tone_high", 1, 3000.0)]


# --- row 9: pulse outputs ----------------------------------------------------------------


def test_row09_pulse_ends_after_its_duration_whatever_the_state_does():
    m = machine(
        S("a", 0.0, pulse("valve_left", 0.005), lick_left="b"),
        S("b", 0.001, Tup="c"),
        S("c", 0.01, Tup=EXIT),
    )
    d = Driver(m)
    d.tick(T0)
    assert d.ex.next_deadline() == T0 + 50
    d.run({T0 + 10: [("lick_left", 1)]})
    assert kinds(d.records, "state") == [(0, "a"), (10, "b"), (20, "c")]
    valve = [(r.cycle - T0, r.value) for r in d.records if r.name == "valve_left"]
    assert valve == [(0, 1), (50, 0)]
    assert kinds(d.records, "trial_end") == [(120, "")]


@pytest.mark.parametrize(("duration_s", "cycles"), [(0.00001, 1), (0.0001, 1), (0.0123, 123)])
def test_row09_pulse_duration_rounds_and_lasts_at_least_one_cycle(duration_s, cycles):
    d = Driver(machine(S("a", 1.0, pulse("go_cue", duration_s), Tup=EXIT)))
    d.tick(T0)
    assert d.ex.next_deadline() == T0 + cycles
    assert brief(d.run(until=T0 + cycles)) == [("output", cycles, "go_cue", 0)]


def test_row09_reentry_restarts_the_pulse():
    m = machine(
        S("a", 0.0, pulse("go_cue", 0.001), lick_left="b"),
        S("b", lick_left="a", aux=EXIT),
    )
    d = Driver(m)
    d.tick(T0)
    d.run({T0 + 3: [("lick_left", 1)], T0 + 6: [("lick_left", 1)]}, until=T0 + 30)
    go_cue = [(r.cycle - T0, r.value) for r in d.records if r.name == "go_cue"]
    assert go_cue == [(0, 1), (6, 1), (16, 0)]  # not off at 10: restarted at 6
    assert kinds(d.records, "state") == [(0, "a"), (3, "b"), (6, "a")]


def test_row09_pulse_ending_on_a_channel_the_state_holds_leaves_it_on():
    m = machine(
        S("a", 0.0, pulse("trial_ttl", 0.001), lick_left="b"),
        S("b", 0.002, held("trial_ttl"), Tup=EXIT),
    )
    d = Driver(m)
    d.tick(T0)
    d.run({T0 + 3: [("lick_left", 1)]})
    ttl = [(r.cycle - T0, r.value) for r in d.records if r.name == "trial_ttl"]
    assert ttl == [(0, 1), (3, 1), (23, 0)]  # no off at 10 while b holds it


# --- row 10: unhandled events ------------------------------------------------------------


def test_row10_unhandled_events_are_recorded_without_a_transition():
    m = machine(S("a", 0.01, held("pole_drop"), lick_left=EXIT, Tup=EXIT))
    d = Driver(m)
    d.tick(T0)
    out = d.tick(T0 + 7, [("aux", 0), ("lick_right", 1), ("frame_clock", 1), ("lick_left", 0)])
    assert brief(out) == [
        ("input", 7, "lick_left_off", 0),
        ("input", 7, "lick_right", 0),
        ("input", 7, "frame_clock", 0),
        ("input", 7, "aux_off", 0),
    ]
    assert d.ex.current_state == "a"
    assert d.ex.next_deadline() == T0 + 100  # timer unaffected
    d.run()
    assert kinds(d.records, "trial_end") == [(100, "")]


# --- row 11: exit ------------------------------------------------------------------------


def test_row11_exit_turns_every_output_off_in_the_exit_cycle_and_ends_the_trial():
    m = machine(
        S(
            "a",
            0.0,
            held("pole_drop"),
            held("sample_tone_low", 1, 4000.0),
            pulse("valve_left", 1.0),
            pulse("go_cue", 0.0002),
            lick_left=EXIT,
        ),
    )
    d = Driver(m, trial=3)
    d.tick(T0)
    d.run(until=T0 + 2)  # the go cue ends on its own
    out = d.tick(T0 + 5, [("lick_left", 1)])
    assert out[0] == Record("input", 3, T0 + 5, "lick_left")
    assert outputs_at(out, T0 + 5) == Counter(
        {("pole_drop", 0): 1, ("sample_tone_low", 0): 1, ("valve_left", 0): 1}
    )
    assert out[-1] == Record("trial_end", 3, T0 + 5)
    assert not d.ex.running and d.ex.idle
    assert d.ex.current_state is None
    assert d.ex.next_deadline() is None
    assert d.tick(T0 + 10_000) == []  # the 1 s valve pulse does not come back
    go_cue = [(r.cycle - T0, r.value) for r in d.records if r.name == "go_cue"]
    assert go_cue == [(0, 1), (2, 0)]  # off once


def test_row11_exit_on_tup_from_a_state_entered_in_the_same_trial():
    m = machine(S("a", 0.0005, pulse("valve_right", 0.0005), Tup=EXIT))
    d = Driver(m)
    d.tick(T0)
    out = d.run()
    # the pulse end and the exit fall in the same cycle: one off only
    assert brief(out) == [
        ("output", 5, "valve_right", 0),
        ("input", 5, TUP, 0),
        ("trial_end", 5, "", 0),
    ]


# --- row 12: queued trial ----------------------------------------------------------------


def test_row12_machine_loaded_while_running_starts_the_cycle_after_the_exit():
    first = machine(S("a", 0.001, held("pole_drop"), lick_left=EXIT, Tup=EXIT))
    second = machine(S("b", 0.002, held("go_cue"), Tup=EXIT))
    d = Driver(first, trial=1)
    d.tick(T0)
    assert not d.ex.has_queued
    d.ex.load(second, trial=2)
    assert d.ex.has_queued and not d.ex.idle and d.ex.running
    with pytest.raises(RuntimeError):
        d.ex.load(second, trial=3)
    with pytest.raises(RuntimeError):
        d.ex.start(T0 + 1)  # running: nothing to start
    assert d.ex.next_deadline() == T0 + 10  # still the running trial's Tup
    end = d.tick(T0 + 4, [("lick_left", 1)])  # exit early
    assert end[-1] == Record("trial_end", 1, T0 + 4)
    assert not d.ex.running and d.ex.has_queued and not d.ex.idle
    assert d.ex.next_deadline() == T0 + 5  # dead time: one cycle
    out = d.tick(T0 + 5, [("lick_left", 0)])  # the new trial's cycle 0: no event
    assert out == [
        Record("trial_start", 2, T0 + 5),
        Record("state", 2, T0 + 5, "b"),
        Record("output", 2, T0 + 5, "go_cue", 1),
    ]
    assert d.ex.trial == 2 and d.ex.trial_start_cycle == T0 + 5
    assert not d.ex.has_queued and not d.ex.idle
    d.run()
    assert d.records[-1] == Record("trial_end", 2, T0 + 25)
    assert d.ex.idle


def test_row12_machine_loaded_while_idle_starts_when_the_caller_starts_it():
    m = machine(S("a", 0.001, Tup=EXIT))
    d = Driver(m, trial=1)
    d.run()
    assert d.ex.idle and d.records[-1] == Record("trial_end", 1, T0 + 10)
    d.ex.load(m, trial=2)
    assert d.ex.has_queued and not d.ex.idle
    assert d.ex.next_deadline() is None  # not started yet
    assert d.tick(T0 + 11) == []  # no automatic start after an idle load
    d.ex.start(T0 + 500)
    assert d.ex.next_deadline() == T0 + 500
    assert d.tick(T0 + 499) == []
    assert d.tick(T0 + 500)[0] == Record("trial_start", 2, T0 + 500)


def test_row12_trial_queued_at_the_exit_cycle_edges_belong_to_the_old_trial():
    m = machine(S("a", 0.001, lick_right="a", Tup=EXIT))
    d = Driver(m, trial=1)
    d.tick(T0)
    d.ex.load(m, trial=2)
    out = d.tick(T0 + 10, [("lick_right", 1)])
    assert [(r.kind, r.trial, r.name) for r in out] == [
        ("input", 1, "lick_right"),
        ("input", 1, TUP),
        ("trial_end", 1, ""),
    ]


# --- misuse ------------------------------------------------------------------------------


def test_loading_twice_raises():
    m = machine(S("a", Tup=EXIT))
    ex = ReferenceExecutor()
    ex.load(m, trial=1)
    with pytest.raises(RuntimeError, match="already queued"):
        ex.load(m, trial=2)


def test_start_needs_a_queued_machine():
    with pytest.raises(RuntimeError):
        ReferenceExecutor().start(0)


def test_ticking_a_cycle_not_after_the_last_raises():
    d = Driver(machine(S("a", 1.0, Tup=EXIT)))
    d.tick(T0)
    with pytest.raises(ValueError):
        d.ex.tick(T0, [])
    with pytest.raises(ValueError):
        d.ex.tick(T0 - 1, [])
    d.tick(T0 + 1)
    with pytest.raises(ValueError):
        d.ex.tick(T0 + 1, [])


def test_starting_at_a_cycle_not_after_the_last_raises():
    ex = ReferenceExecutor()
    ex.tick(50, [])
    ex.load(machine(S("a", Tup=EXIT)), trial=1)
    with pytest.raises(ValueError):
        ex.start(50)
    ex.start(51)
    assert ex.next_deadline() == 51


def test_compile_leaves_out_self_targets_and_unhandled_tup():
    m = machine(
        S("a", 0.002, lick_left="a", lick_right="b", Tup="a"),
        S("b", 0.0, pulse("go_cue", 0.0003), held("pole_drop"), Tup=EXIT),
    )
    a, b = compile_machine(m)
    assert a.on_input == {"lick_right": 1}
    assert a.timer is None
    assert b.timer == 1 and b.tup_target == -1
    assert b.held == (("pole_drop", 1, None),)
    assert b.pulses == (("go_cue", 1, None, 3),)


# --- property: random input timelines on a small machine ----------------------------------

EVENT_TARGETS = ["s0", "s1", "s2", EXIT]
SMALL_TIMERS = st.sampled_from([0.0, 0.0001, 0.00025, 0.0005, 0.001, 0.0023, 0.004])
SMALL_OUTPUTS = st.lists(
    st.builds(
        Output,
        channel=st.sampled_from(["valve_left", "valve_right", "go_cue", "pole_drop"]),
        value=st.integers(1, 3),
        duration_s=st.none() | st.sampled_from([0.0001, 0.0004, 0.001, 0.003]),
    ),
    max_size=3,
    unique_by=lambda o: o.channel,
)


@st.composite
def small_machines(draw) -> StateMachine:
    states = []
    for i in range(3):
        transitions = draw(
            st.dictionaries(
                st.sampled_from(["lick_left", "lick_right", "lick_left_off", "aux"]),
                st.sampled_from(EVENT_TARGETS),
                max_size=3,
            )
        )
        transitions[TUP] = f"s{i + 1}" if i < 2 else EXIT  # the trial always ends
        states.append(
            State(
                name=f"s{i}",
                timer_s=draw(SMALL_TIMERS),
                transitions=transitions,
                outputs=tuple(draw(SMALL_OUTPUTS)),
            )
        )
    return StateMachine(states=tuple(states))


TIMELINES = st.dictionaries(
    st.integers(0, 150).map(lambda c: T0 + c),
    st.lists(
        st.tuples(st.sampled_from(INPUT_CHANNELS), st.integers(0, 1)),
        min_size=1,
        max_size=3,
        unique_by=lambda e: e[0],
    ),
    max_size=25,
)


def _check_trial(m: StateMachine, records: list[Record], timeline: Edges) -> None:
    by_name = {s.name: s for s in m.states}
    assert records[0] == Record("trial_start", 1, T0)
    assert [r.kind for r in records].count("trial_end") == 1
    assert records[-1].kind == "trial_end"
    end = records[-1].cycle
    cycles = [r.cycle for r in records]
    assert cycles == sorted(cycles)
    state_cycles = [r.cycle for r in records if r.kind == "state"]
    assert state_cycles == sorted(state_cycles)
    assert max(Counter(state_cycles).values()) == 1  # at most one transition per cycle
    # inputs: exactly the edges seen after cycle 0 up to the exit, plus Tups
    seen = sorted(
        (c, ch if level else f"{ch}_off")
        for c, edges in timeline.items()
        if T0 < c <= end
        for ch, level in edges
    )
    inputs = [(r.cycle, r.name) for r in records if r.kind == "input"]
    assert sorted(i for i in inputs if i[1] != TUP) == seen
    # every Tup comes exactly its timer after the entry into a state that handles it
    current, entered = None, None
    for r in records:
        if r.kind == "state":
            current, entered = by_name[r.name], r.cycle
        elif r.kind == "input" and r.name == TUP:
            assert current is not None and entered is not None
            assert TUP in current.transitions
            assert r.cycle == entered + to_cycles(current.timer_s)
    # every state change (but the first) is caused by an input in the same cycle
    for r in records:
        if r.kind == "state" and r.cycle > T0:
            assert any(i[0] == r.cycle for i in inputs)
    # every output that goes on is off by the trial_end
    level: dict[str, int] = {}
    for r in records:
        if r.kind == "output":
            level[r.name] = r.value
    assert all(v == 0 for v in level.values()), level
    assert all(r.trial == 1 for r in records)


@settings(max_examples=300, deadline=None)
@given(small_machines(), TIMELINES)
def test_property_random_input_timelines(m, timeline):
    d = Driver(m, trial=1, start=T0)
    d.run(timeline)
    _check_trial(m, d.records, timeline)
    assert d.ex.idle


@settings(max_examples=150, deadline=None)
@given(small_machines(), TIMELINES)
def test_property_ticking_every_cycle_gives_the_same_records(m, timeline):
    """Between deadlines and edges nothing changes: dense ticking changes no record."""
    sparse = Driver(m)
    sparse.run(timeline)
    dense = Driver(m)
    cycle = T0
    while not dense.records or dense.records[-1].kind != "trial_end":
        dense.tick(cycle, timeline.get(cycle, []))
        cycle += 1
        assert cycle < T0 + 10_000
    assert dense.records == sparse.records
