"""Protocol files: values that would break a session are refused, with their location."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.schema import LoadError, Protocol, load_model

BASE = """\
name: p
{extra}
contexts:
  T1: {{modality: tactile, mapping: {{posterior: right, anterior: left}}}}
curriculum:
  - {{context: T1{step}}}
"""

CASES = {
    "infinite epoch": (
        "epochs:\n  sample_s: .inf",
        "",
        "epochs.sample_s: Input should be a finite number",
    ),
    "epoch too long": (
        "epochs:\n  delay_s: 3600",
        "",
        "epochs.delay_s: Input should be less than or equal to 600",
    ),
    "one pole position": (
        "stimuli:\n  pole_positions: {anterior: 30}",
        "",
        "stimuli.pole_positions: needs both anterior and posterior",
    ),
    "equal tones": (
        "stimuli:\n  tone_hz: {high: 2000, low: 2000}",
        "",
        "stimuli.tone_hz: the two stimuli must differ",
    ),
    "pole position 0": (
        "stimuli:\n  pole_positions: {anterior: 0, posterior: 100}",
        "",
        "stimuli.pole_positions.anterior: Input should be greater than or equal to 1",
    ),
    "stage window shorter than the cue": (
        "stages:\n  short: {response_window_s: 0.05}",
        ", stage: short",
        "stages.short.response_window_s: must be longer than the go cue (0.1 s)",
    ),
    "trials with a criterion rule": (
        "",
        ", advance: {rule: criterion, trials: 5}",
        "curriculum.0.advance.trials: only used when rule is 'trials'",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_values_are_refused_with_their_location(tmp_path: Path, case: str) -> None:
    extra, step, message = CASES[case]
    path = tmp_path / "p.yaml"
    path.write_text(BASE.format(extra=extra, step=step))
    with pytest.raises(LoadError) as info:
        load_model(path, Protocol)
    (problem,) = info.value.problems
    assert message in str(problem)
    assert str(problem).startswith(f"{path}:")
    assert problem.line > 1


def test_a_mapping_needs_one_stimulus_per_side(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(BASE.format(extra="", step="").replace("anterior: left", "anterior: right"))
    with pytest.raises(LoadError, match=r"contexts.T1.mapping: needs exactly one stimulus"):
        load_model(path, Protocol)


def test_the_shipped_protocols_load(root: Path) -> None:
    for path in sorted((root / "protocols").glob("*.yaml")):
        protocol = load_model(path, Protocol)
        assert protocol.curriculum
