"""Options for the fairness detector, embeddable in a monitor's YAML configuration."""

from __future__ import annotations

from collections import Counter
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# bool first: pydantic's smart union keeps the input's exact type, and True must not become 1.
Favorable = bool | int | float | str
Task = Literal["classification", "regression"]


class FairnessOptions(BaseModel):
    """Which attributes are protected, what counts as a favourable outcome, and how small a group may be."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    protected: list[str] = Field(min_length=1)
    """Columns holding the protected attributes (e.g. sex, race); each is judged on its own."""

    favorable: Favorable = 1
    """The prediction / label value meaning a favourable outcome; "1" also matches 1, 1.0 and True."""

    min_group_size: int = Field(default=30, ge=1)
    """Groups with fewer rows are reported as too small and left out of every between-group difference."""

    intersections: bool = False
    """Also judge every combination of two or more protected attributes as one combined attribute."""

    task: Task = "classification"
    """`classification` compares selection and error rates; `regression` compares mean prediction and MAE."""

    @field_validator("protected")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        """Reject a protected column named twice."""
        dupes = sorted(c for c, n in Counter(value).items() if n > 1)
        if dupes:
            raise ValueError(f"protected column(s) named more than once: {', '.join(dupes)}")
        return value
