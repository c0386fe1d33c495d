"""Tests for rig.fsm.model: validation, content hash, YAML/JSON round trips, DOT."""

from __future__ import annotations

import re
import string

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from rig.fsm.model import (
    EVENTS,
    EXIT,
    INPUT_EVENTS,
    TUP,
    Output,
    State,
    StateMachine,
    StateMachineError,
)
from rig.schema.hardware import INPUT_CHANNELS, OUTPUT_CHANNELS

# --- helpers -----------------------------------------------------------------------------


def S(name: str, timer_s: float = 0.0, outputs: tuple[Output, ...] = (), **transitions: str):
    return State(name=name, timer_s=timer_s, transitions=transitions, outputs=outputs)


def simple() -> StateMachine:
    return StateMachine(
        name="simple",
        states=(
            S("sample", 1.0, (Output(channel="pole_drop"),), Tup="delay"),
            S("delay", 0.5, lick_left="sample", Tup="response"),
            S(
                "response",
                2.0,
                (Output(channel="go_cue", duration_s=0.1, freq_hz=3000.0),),
                lick_left="reward",
                lick_right=EXIT,
                Tup=EXIT,
            ),
            S("reward", 0.0, (Output(channel="valve_left", duration_s=0.05),), Tup=EXIT),
        ),
    )


# Each invalid machine, and the text its problem must contain (naming the state/event).
INVALID = {
    "duplicate_state": (
        (S("a", Tup=EXIT), S("a", Tup=EXIT)),
        "state 'a' is defined twice",
    ),
    "reserved_exit": (
        (S("a", Tup=EXIT), S(EXIT, Tup=EXIT)),
        "'exit' is reserved",
    ),
    "unknown_event": (
        (S("a", Tup=EXIT, lick_center=EXIT),),
        "state 'a': unknown event 'lick_center'",
    ),
    "unknown_target": (
        (S("a", Tup="nowhere"),),
        "state 'a': Tup goes to unknown state 'nowhere'",
    ),
    "unknown_output_channel": (
        (S("a", outputs=(Output(channel="laser"),), Tup=EXIT),),
        "state 'a': unknown output channel 'laser'",
    ),
    "unreachable_state": (
        (S("a", Tup=EXIT), S("island", Tup=EXIT)),
        "state 'island' is unreachable",
    ),
    "no_path_to_exit": (
        (S("a", Tup="b"), S("b", Tup="a")),
        "no state leads to exit",
    ),
}


# --- constants ---------------------------------------------------------------------------


def test_events_are_input_onsets_offsets_and_tup():
    assert set(INPUT_EVENTS) == {e for ch in INPUT_CHANNELS for e in (ch, f"{ch}_off")}
    assert (*INPUT_EVENTS, TUP) == EVENTS
    assert TUP == "Tup" and EXIT == "exit"


# --- validation --------------------------------------------------------------------------


def test_valid_machine_passes():
    m = simple()
    assert m.problems() == []
    assert [s.name for s in m.states] == ["sample", "delay", "response", "reward"]
    assert m.state("reward").outputs[0].channel == "valve_left"
    with pytest.raises(KeyError):
        m.state("nope")


def test_every_input_event_and_output_channel_is_accepted():
    transitions = {e: EXIT for e in EVENTS}
    outputs = tuple(Output(channel=ch) for ch in OUTPUT_CHANNELS)
    m = StateMachine(states=(State(name="all", transitions=transitions, outputs=outputs),))
    assert m.problems() == []


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_machine_is_rejected_naming_the_problem(case):
    states, message = INVALID[case]
    with pytest.raises(StateMachineError, match=re.escape(message)):
        StateMachine(states=states)


@pytest.mark.parametrize("case", sorted(INVALID))
def test_problems_lists_the_problem(case):
    states, message = INVALID[case]
    problems = StateMachine.model_construct(name="trial", states=states).problems()
    assert any(message in p for p in problems), problems


def test_several_problems_reported_one_per_line():
    states = (S("a", Tup=EXIT, lick_middle="b"), S("a", Tup="ghost"))
    problems = StateMachine.model_construct(name="trial", states=states).problems()
    assert "state 'a' is defined twice" in problems
    assert "state 'a': unknown event 'lick_middle'" in problems
    assert "state 'a': Tup goes to unknown state 'ghost'" in problems
    with pytest.raises(StateMachineError) as info:
        StateMachine(states=states)
    for p in problems:
        assert p in str(info.value)


def test_a_reachable_dead_end_is_rejected():
    # "waiting" can be entered but has no way out: the trial would never end.
    states = (S("a", lick_left="waiting", Tup=EXIT), S("waiting"))
    with pytest.raises(StateMachineError, match="state 'waiting' is a dead end"):
        StateMachine(states=states)


def test_reachability_is_only_checked_when_names_are_sound():
    # An unknown target already explains the problem; no "unreachable" noise on top.
    states = (S("a", Tup="ghost"), S("b", Tup=EXIT))
    problems = StateMachine.model_construct(name="trial", states=states).problems()
    assert problems == ["state 'a': Tup goes to unknown state 'ghost'"]


def test_at_least_one_state_is_required():
    with pytest.raises(ValidationError):
        StateMachine(states=())


def test_output_value_and_durations_are_bounded():
    with pytest.raises(ValidationError):
        Output(channel="go_cue", value=256)
    with pytest.raises(ValidationError):
        Output(channel="go_cue", duration_s=0)
    with pytest.raises(ValidationError):
        Output(channel="go_cue", freq_hz=0)
    with pytest.raises(ValidationError):
        State(name="a", timer_s=-1)


def test_validation_error_is_state_machine_error():
    """Every problem must surface as StateMachineError, from the constructor and from YAML.

    Raised inside a pydantic model validator, a ValueError subclass is wrapped into a
    pydantic ValidationError, so callers catching StateMachineError miss it.
    """
    wrong_type = []
    for case, (states, message) in sorted(INVALID.items()):
        try:
            StateMachine(states=states)
        except StateMachineError as exc:
            assert message in str(exc)
        except Exception as exc:
            wrong_type.append(f"{case}: {type(exc).__name__}")
    text = yaml.safe_dump({"states": [{"name": "a"}, {"name": "a"}]})
    try:
        StateMachine.from_yaml(text)
    except StateMachineError:
        pass
    except Exception as exc:
        wrong_type.append(f"from_yaml: {type(exc).__name__}")
    assert wrong_type == []


def test_machines_are_immutable():
    m = simple()
    with pytest.raises(ValidationError):
        m.name = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        m.states[0].timer_s = 3.0  # type: ignore[misc]


# --- content hash ------------------------------------------------------------------------


def test_content_hash_is_16_hex_digits_and_stable():
    a, b = simple(), simple()
    assert a == b
    assert a.content_hash == b.content_hash
    assert re.fullmatch(r"[0-9a-f]{16}", a.content_hash)


def test_machine_is_hashable_by_content_as_documented():
    """The class docstring says "immutable, hashable by content"; frozen pydantic models get
    a __hash__, but State.transitions is a dict, so hash() raises TypeError."""
    a, b = simple(), simple()
    assert hash(a) == hash(b)
    assert len({a, b}) == 1


def test_content_hash_ignores_transition_order_and_int_float_spelling():
    a = StateMachine(states=(State(name="a", timer_s=1, transitions={TUP: EXIT, "aux": EXIT}),))
    b = StateMachine(states=(State(name="a", timer_s=1.0, transitions={"aux": EXIT, TUP: EXIT}),))
    assert a == b
    assert a.content_hash == b.content_hash


def test_content_hash_changes_with_name_timer_output_transition():
    base = simple()
    states = list(base.states)
    variants = {
        "name": base.model_copy(update={"name": "other"}),
        "timer": StateMachine(
            name=base.name, states=(states[0].model_copy(update={"timer_s": 1.0001}), *states[1:])
        ),
        "output_value": StateMachine(
            name=base.name,
            states=(
                S("sample", 1.0, (Output(channel="pole_drop", value=2),), Tup="delay"),
                *states[1:],
            ),
        ),
        "output_pulse": StateMachine(
            name=base.name,
            states=(
                S("sample", 1.0, (Output(channel="pole_drop", duration_s=1.0),), Tup="delay"),
                *states[1:],
            ),
        ),
        "transition": StateMachine(
            name=base.name,
            states=(*states[:1], S("delay", 0.5, lick_left=EXIT, Tup="response"), *states[2:]),
        ),
    }
    hashes = {base.content_hash} | {v.content_hash for v in variants.values()}
    assert len(hashes) == 1 + len(variants)


def test_content_hash_equal_for_negative_zero_timer():
    """-0.0 passes ``ge=0`` and compares equal to 0.0, so the hash must not tell them apart.

    Also a YAML round trip drops -0.0 as a default (exclude_defaults) and so changes the hash.
    """
    neg = StateMachine(states=(S("a", -0.0, Tup=EXIT),))
    pos = StateMachine(states=(S("a", 0.0, Tup=EXIT),))
    assert neg == pos
    assert neg.content_hash == pos.content_hash
    assert StateMachine.from_yaml(neg.to_yaml()).content_hash == neg.content_hash


# --- hypothesis: small valid machines ------------------------------------------------------

NAME = st.text(alphabet=string.ascii_letters + string.digits + "_- ", min_size=1, max_size=8)
TIMER = st.floats(min_value=0.0, max_value=100.0, allow_nan=False, allow_infinity=False)
POSITIVE = st.floats(min_value=1e-6, max_value=100.0, allow_nan=False, allow_infinity=False)
FREQ = st.floats(min_value=1.0, max_value=40000.0, allow_nan=False, allow_infinity=False)
OUTPUT = st.builds(
    Output,
    channel=st.sampled_from(OUTPUT_CHANNELS),
    value=st.integers(0, 255),
    duration_s=st.none() | POSITIVE,
    freq_hz=st.none() | FREQ,
)


@st.composite
def chain_machines(draw) -> StateMachine:
    """A chain of states s0 -Tup-> s1 -Tup-> ... -Tup-> exit, plus random extra transitions."""
    names = draw(st.lists(NAME.filter(lambda n: n != EXIT), min_size=1, max_size=5, unique=True))
    states = []
    for i, name in enumerate(names):
        transitions = draw(
            st.dictionaries(st.sampled_from(INPUT_EVENTS), st.sampled_from([*names, EXIT]))
        )
        transitions[TUP] = names[i + 1] if i + 1 < len(names) else EXIT
        outputs = tuple(draw(st.lists(OUTPUT, max_size=3)))
        states.append(
            State(name=name, timer_s=draw(TIMER), transitions=transitions, outputs=outputs)
        )
    return StateMachine(name=draw(NAME), states=tuple(states))


@settings(max_examples=150, deadline=None)
@given(chain_machines())
def test_generated_machines_round_trip_through_yaml_and_json(m):
    assert m.problems() == []
    from_yaml = StateMachine.from_yaml(m.to_yaml())
    assert from_yaml == m
    assert from_yaml.content_hash == m.content_hash
    from_json = StateMachine.model_validate_json(m.model_dump_json())
    assert from_json == m
    assert from_json.content_hash == m.content_hash
    assert StateMachine.model_validate(m.model_dump()).content_hash == m.content_hash


@settings(max_examples=100, deadline=None)
@given(chain_machines(), st.data())
def test_generated_machines_hash_changes_with_any_timer_output_or_transition(m, data):
    i = data.draw(st.integers(0, len(m.states) - 1), label="state")
    s = m.states[i]
    rest = (m.states[:i], m.states[i + 1 :])

    def rebuilt(new: State) -> StateMachine:
        return StateMachine(name=m.name, states=(*rest[0], new, *rest[1]))

    changed_timer = rebuilt(s.model_copy(update={"timer_s": s.timer_s + 1.0}))
    if s.outputs:
        j = data.draw(st.integers(0, len(s.outputs) - 1), label="output")
        o = s.outputs[j]
        new_out = o.model_copy(update={"value": (o.value + 1) % 256})
        outputs = (*s.outputs[:j], new_out, *s.outputs[j + 1 :])
    else:
        outputs = (Output(channel="trial_ttl"),)
    changed_output = rebuilt(s.model_copy(update={"outputs": outputs}))
    event = data.draw(st.sampled_from(INPUT_EVENTS), label="event")
    target = s.name if s.transitions.get(event) == EXIT else EXIT
    changed_transition = rebuilt(
        s.model_copy(update={"transitions": {**s.transitions, event: target}})
    )
    hashes = [m.content_hash] + [
        v.content_hash for v in (changed_timer, changed_output, changed_transition)
    ]
    assert len(set(hashes)) == 4
    # and equal content built again from scratch hashes the same
    again = StateMachine.model_validate(m.model_dump(mode="json"))
    assert again.content_hash == m.content_hash


# --- YAML and DOT --------------------------------------------------------------------------


def test_yaml_leaves_out_defaults_and_reads_back():
    m = simple()
    text = m.to_yaml()
    data = yaml.safe_load(text)
    assert data["name"] == "simple"
    assert [s["name"] for s in data["states"]] == ["sample", "delay", "response", "reward"]
    assert "value" not in data["states"][0]["outputs"][0]  # default 1 left out
    assert "outputs" not in data["states"][1]
    assert "timer_s" not in data["states"][3]  # 0.0 is the default
    assert StateMachine.from_yaml(text) == m


def test_from_yaml_minimal_text():
    m = StateMachine.from_yaml("states:\n- name: only\n  transitions: {Tup: exit}\n")
    assert m.name == "trial"
    assert m.states[0] == State(name="only", transitions={TUP: EXIT})


def test_to_dot_contains_every_state_and_transition():
    m = simple()
    dot = m.to_dot()
    assert dot.startswith('digraph "simple" {')
    assert dot.rstrip().endswith("}")
    for s in m.states:
        assert f'"{s.name}" [label="{s.name}\\n' in dot
        for event, target in s.transitions.items():
            assert f'"{s.name}" -> "{target}" [label="{event}"];' in dot
    assert f'"{EXIT}" [shape=doublecircle];' in dot
    assert "go_cue=1 3000 Hz for 0.1 s" in dot
    assert "pole_drop=1" in dot
    edges = [line for line in dot.splitlines() if "->" in line]
    assert len(edges) == sum(len(s.transitions) for s in m.states)


@settings(max_examples=50, deadline=None)
@given(chain_machines())
def test_to_dot_of_generated_machines_lists_all_states_and_transitions(m):
    dot = m.to_dot()
    for s in m.states:
        assert f'"{s.name}" [label=' in dot
        for event, target in s.transitions.items():
            assert f'"{s.name}" -> "{target}" [label="{event}"];' in dot
