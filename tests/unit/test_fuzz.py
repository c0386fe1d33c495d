"""Every decoder of outside bytes, fed random and mutated inputs: no crash, no hang, and a
refusal names where (rig/sim/faults/fuzz.py; the 10^6-input figure is bench/fuzz.py)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rig.devices.bpod.decoder import Decoder as BpodDecoder
from rig.devices.bpod.decoder import Garbage
from rig.devices.lickport import codec
from rig.schema.loader import LoadError, load_model
from rig.schema.protocol import Protocol
from rig.sim.faults.fuzz import SEEDS, TARGETS, mutate, run_one

FAST = [name for name in TARGETS if name != "protocol_yaml"]


@pytest.mark.parametrize("target", FAST)
@settings(max_examples=300, deadline=1000)  # a hang would pass the second
@given(data=st.binary(max_size=400))
def test_random_bytes_crash_no_decoder(target: str, data: bytes) -> None:
    assert run_one(target, data) is None


@pytest.mark.parametrize("target", [*FAST, "protocol_yaml"])
@settings(max_examples=200, deadline=2000)
@given(seed=st.integers(0, 2**32 - 1))
def test_mutated_valid_inputs_crash_no_decoder(target: str, seed: int) -> None:
    rng = random.Random(seed)
    assert run_one(target, mutate(rng.choice(SEEDS[target]), rng)) is None


def test_the_seeds_decode_as_they_are() -> None:
    """The mutations start from inputs each decoder accepts (else the fuzzing is shallow)."""
    for name, seeds in SEEDS.items():
        for seed in seeds:
            TARGETS[name](seed)  # raises if a seed is not valid
    (stream,) = SEEDS["lickport"]
    decoded = codec.Decoder().feed(stream)
    assert len(decoded) == 7 and not any(isinstance(m, codec.Garbage) for m in decoded)
    bpod = BpodDecoder(events=174)
    bpod.expect_trial(new_machine=True)
    assert not any(isinstance(m, Garbage) for m in bpod.feed(SEEDS["bpod"][0]))


def test_a_control_character_in_a_protocol_file_is_located(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(b"name: demo\nepochs:\n  sample_s: 1\x07.3\n")
    with pytest.raises(LoadError) as error:
        load_model(path, Protocol)
    (problem,) = error.value.problems
    assert (problem.line, problem.col) == (3, 14) and "U+0007" in problem.message
