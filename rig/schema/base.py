"""Base models for files: strict (unknown fields are errors) and cross-checked.

A cross-checked model's :meth:`CrossChecked.raw_problems` runs on the raw data (dicts and
lists from YAML) *before* field validation, and its problems are reported together with
the field errors. A pydantic "after" validator would not run at all when any field of the
file is wrong, hiding e.g. a curriculum step that names a missing context.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from rig.schema.loader import located_errors

CUSTOM = ("located", "located_many")


class Strict(BaseModel):
    """Unknown fields are errors; so are infinities and NaN (``.inf`` is valid YAML)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class CrossChecked(Strict):
    @classmethod
    def raw_problems(cls, data: dict[str, Any]) -> list[tuple[str, str]]:
        """(dotted path, message) for each problem across fields; override."""
        return []

    @model_validator(mode="wrap")
    @classmethod
    def _cross_check(cls, data: Any, handler: Any) -> Any:
        problems = cls.raw_problems(data) if isinstance(data, dict) else []
        try:
            model = handler(data)
        except ValidationError as exc:
            if not problems:
                raise
            errors: list[Any] = [
                {"type": e["type"], "loc": e["loc"], "input": e["input"], "ctx": e.get("ctx", {})}
                for e in exc.errors()
                if e["type"] not in CUSTOM
            ]
            errors += [  # custom errors keep their own message
                {
                    "type": PydanticCustomError(e["type"], "{message}", e.get("ctx", {})),
                    "loc": e["loc"],
                    "input": e["input"],
                }
                for e in exc.errors()
                if e["type"] in CUSTOM
            ]
            errors.append({"type": located_errors(problems), "loc": (), "input": data})
            raise ValidationError.from_exception_data(cls.__name__, errors) from None
        if problems:
            raise located_errors(problems)
        return model


def both_increasing(pairs: list[tuple[float, float]], what: str) -> None:
    """Raise located errors (``points.N``) where a calibration's points do not both rise:
    ``what`` names the two quantities ("open times and volumes")."""
    problems = [
        (f"points.{i}", f"{what} must both increase from point to point")
        for i in range(1, len(pairs))
        if pairs[i][0] <= pairs[i - 1][0] or pairs[i][1] <= pairs[i - 1][1]
    ]
    if problems:
        raise located_errors(problems)
