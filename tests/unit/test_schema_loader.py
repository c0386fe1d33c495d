"""Tests for rig.schema.loader: YAML -> pydantic with located, collected problems."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Literal

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, model_validator

from rig.schema.loader import (
    LoadError,
    Located,
    Problem,
    load_model,
    locate,
    located_error,
    located_errors,
    read_yaml,
)


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid")
    posterior: float = Field(gt=0)
    kind: Literal["linear", "log"] = "linear"


class Context(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = ""
    mapping: Mapping


class Stage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    delay_s: float = Field(gt=0)


class Block(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stage: str
    repeats: int = 1


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stages: list[Stage]
    blocks: list[Block] = []

    @model_validator(mode="after")
    def _blocks_name_stages(self) -> Schedule:
        names = {s.name for s in self.stages}
        bad = [
            (f"blocks.{i}.stage", f"stage {b.stage!r} does not exist")
            for i, b in enumerate(self.blocks)
            if b.stage not in names
        ]
        if bad:
            raise located_errors(bad)
        return self


class Experiment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    default_context: str | None = None
    contexts: dict[str, Context]
    schedule: Schedule

    @model_validator(mode="after")
    def _default_exists(self) -> Experiment:
        if self.default_context is not None and self.default_context not in self.contexts:
            raise located_error("default_context", f"context {self.default_context!r} is unknown")
        return self


class Misc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    x: int | list[int] = 0
    weights: dict[int, float] = {}


GOOD = """\
name: demo
contexts:
  T1:
    label: first
    mapping:
      posterior: 2.5
  T2:
    mapping: {posterior: 0.5, kind: log}
schedule:
  stages:
    - name: warmup
      delay_s: 0.5
    - name: main
      delay_s: 1.0
  blocks:
    - stage: warmup
      repeats: 2
    - stage: main
"""

# Four planted mistakes (line:col of each is asserted below).
BAD = """\
name: demo
contexts:
  T1:
    label: first
    mapping:
      posterior: 2.5
      colour: red
  T2:
    label: [1, 2]
    mapping:
      posterior: -1
      kind: log
schedule:
  stages:
    - name: warmup
      delay_s: 0.5
    - name: main
      delay_s: 1.0
  blocks:
    - stage: warmup
      repeats: 2
    - stage: mian
"""


def write(tmp_path: Path, text: str, name: str = "cfg.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path, model: type[BaseModel] = Experiment) -> list[Problem]:
    with pytest.raises(LoadError) as info:
        load_model(path, model)
    assert str(info.value) == "\n".join(str(p) for p in info.value.problems)
    return info.value.problems


def brief(problems: list[Problem]) -> list[tuple[int, int, str, str]]:
    return [(p.line, p.col, p.path, p.message) for p in problems]


def test_valid_file_loads(tmp_path: Path) -> None:
    exp = load_model(write(tmp_path, GOOD), Experiment)
    assert exp.contexts["T2"].mapping.kind == "log"
    assert [b.stage for b in exp.schedule.blocks] == ["warmup", "main"]


def test_four_planted_mistakes_all_reported_with_location(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, BAD))
    assert brief(problems) == [
        (7, 7, "contexts.T1.mapping.colour", "unknown field"),
        (9, 12, "contexts.T2.label", "Input should be a valid string"),
        (11, 18, "contexts.T2.mapping.posterior", "Input should be greater than 0"),
        (22, 14, "schedule.blocks.1.stage", "stage 'mian' does not exist"),
    ]
    assert all(p.file == str(tmp_path / "cfg.yaml") for p in problems)


def test_located_errors_reports_each_item(tmp_path: Path) -> None:
    text = GOOD.replace("stage: warmup", "stage: nope").replace("stage: main", "stage: gone")
    assert brief(problems_of(write(tmp_path, text))) == [
        (16, 14, "schedule.blocks.0.stage", "stage 'nope' does not exist"),
        (18, 14, "schedule.blocks.1.stage", "stage 'gone' does not exist"),
    ]


def test_located_error_from_top_level_validator(tmp_path: Path) -> None:
    text = GOOD.replace("name: demo\n", "name: demo\ndefault_context: T9\n")
    assert brief(problems_of(write(tmp_path, text))) == [
        (2, 18, "default_context", "context 'T9' is unknown")
    ]


def test_missing_field_points_at_parent_and_literal(tmp_path: Path) -> None:
    text = GOOD.replace("    - name: main\n      delay_s: 1.0\n", "    - delay_s: 1.0\n").replace(
        "kind: log", "kind: cubic"
    )
    assert brief(problems_of(write(tmp_path, text))) == [
        (8, 37, "contexts.T2.mapping.kind", "Input should be 'linear' or 'log'"),
        (13, 7, "schedule.stages.1.name", "field required"),
    ]


def test_union_tags_dropped_and_dict_key_errors_point_at_key(tmp_path: Path) -> None:
    path = write(tmp_path, "x: oops\nweights:\n  1: 0.5\n  abc: 1.0\n")
    assert brief(problems_of(path, Misc)) == [
        (1, 4, "x", "Input should be a valid integer, unable to parse string as an integer"),
        (1, 4, "x", "Input should be a valid list"),
        (
            4,
            3,
            "weights.abc",
            "Input should be a valid integer, unable to parse string as an integer",
        ),
    ]
    assert load_model(write(tmp_path, "x: [1, 2]\nweights: {3: 1}\n"), Misc).weights == {3: 1.0}


def test_yaml_syntax_error_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, "name: demo\ncontexts: [1, 2\nschedule: 3\n")
    [problem] = problems_of(path)
    assert (problem.line, problem.col, problem.path) == (3, 9, "")
    assert problem.message.startswith("YAML syntax error: ")
    assert str(problem) == f"{path}:3:9: {problem.message}"


def test_duplicate_keys_are_located(tmp_path: Path) -> None:
    path = write(tmp_path, "a: 1\nb:\n  x: 1\n  x: 2\na: 3\n")
    assert brief(problems_of(path)) == [
        (4, 3, "b.x", "duplicate key 'x'"),
        (5, 1, "a", "duplicate key 'a'"),
    ]


@pytest.mark.parametrize(
    ("text", "where"), [("", (1, 1)), ("# only a comment\n", (1, 1)), ("\n- 1\n", (2, 1))]
)
def test_empty_or_non_mapping_document(tmp_path: Path, text: str, where: tuple[int, int]) -> None:
    assert brief(problems_of(write(tmp_path, text))) == [
        (*where, "", "expected a mapping at the top level")
    ]


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    [problem] = problems_of(path)
    assert str(problem) == f"{path}:1:1: cannot read file: No such file or directory"


def test_positions_of_list_items_and_keys(tmp_path: Path) -> None:
    text = "items:\n  - {a: 1, b: 2}\n  - c: 3\n    d: [x, y]\n7: seven\nwhen: 2024-05-01\n"
    located = read_yaml(write(tmp_path, text))
    assert located.data == yaml.safe_load(text)
    assert isinstance(located.data, dict)
    assert list(located.data) == ["items", 7, "when"]
    pos = located.positions
    assert pos[("items", 0)] == (2, 5)
    assert pos[("items", 0, "b")] == (2, 15)
    assert pos[("items", 1)] == (3, 5)
    assert pos[("items", 1, "d", 1)] == (4, 12)
    assert pos[(7,)] == (5, 4)
    assert located.key_positions[("items", 1, "d")] == (4, 5)
    assert locate(located, ("items", 1, "d", "function-after[f()]", 1)) == (4, 12)
    assert locate(located, ("items", 1, "missing", "deeper")) == (3, 5)
    assert locate(located, ("items", "1", "d"), key=True) == (4, 5)
    assert locate(located, ("7",)) == (5, 4)


def test_problem_str_format() -> None:
    assert str(Problem("a.yaml", 3, 5, "x.0.y", "bad")) == "a.yaml:3:5: x.0.y: bad"
    assert str(Problem("a.yaml", 1, 1, "", "bad")) == "a.yaml:1:1: bad"
    err = LoadError([Problem("f", 1, 2, "p", "m"), Problem("f", 3, 4, "", "n")])
    assert str(err) == "f:1:2: p: m\nf:3:4: n"


_WORD = string.ascii_letters + string.digits
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(alphabet=_WORD, max_size=8),
)
_keys = st.one_of(st.text(alphabet=_WORD, min_size=1, max_size=8), st.integers(-99, 99))
_docs = st.dictionaries(
    _keys,
    st.recursive(
        _scalars,
        lambda kids: st.lists(kids, max_size=4) | st.dictionaries(_keys, kids, max_size=4),
        max_leaves=25,
    ),
    max_size=6,
)


def _emitted(value: object) -> str:
    return yaml.safe_dump(value).splitlines()[0]


def _leaves(
    data: object, path: tuple[str | int, ...] = ()
) -> list[tuple[tuple[str | int, ...], object]]:
    if isinstance(data, dict) and data:
        return [leaf for k, v in data.items() for leaf in _leaves(v, (*path, k))]
    if isinstance(data, list) and data:
        return [leaf for i, v in enumerate(data) for leaf in _leaves(v, (*path, i))]
    return [(path, data)]


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=_docs)
def test_read_yaml_matches_safe_load_and_positions(
    tmp_path: Path, doc: dict[object, object]
) -> None:
    text = yaml.safe_dump(doc, sort_keys=False)
    located: Located = read_yaml(write(tmp_path, text, "doc.yaml"))
    assert located.data == yaml.safe_load(text) == doc
    lines = text.splitlines()
    for path, value in _leaves(located.data):
        line, col = located.positions[path]
        assert lines[line - 1][col - 1 :].startswith(_emitted(value)), (path, value, text)
        if path in located.key_positions:  # the leaf is a mapping value
            key_line, key_col = located.key_positions[path]
            assert lines[key_line - 1][key_col - 1 :].startswith(_emitted(path[-1]))
