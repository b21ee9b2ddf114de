"""Drift configuration: a pydantic model the monitors' YAML can embed, validated before data is touched."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from detectors.column_types import ColumnType

MethodName = Literal[
    "ks",
    "chisquare",
    "z",
    "wasserstein",
    "jensenshannon",
    "psi",
    "kl_div",
    "hellinger",
    "anderson",
    "cramer_von_mises",
    "mannw",
    "ed",
    "es",
    "t_test",
    "fisher_exact",
    "g_test",
    "TVD",
    "empirical_mmd",
]
TestedType = Literal["numeric", "categorical", "binary"]


class DriftOptions(BaseModel):
    """How to test a reference/current pair for drift; every field has Evidently's default."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    columns: list[str] | None = None
    """Columns to test; default every reference column except the prediction."""
    prediction: str | None = None
    """The model-output column: tested like the others but reported on its own."""
    count_prediction_in_share: bool = False
    """Also count the prediction column in the drifted share (Evidently counts every column it tests)."""
    drift_share: float = Field(default=0.5, gt=0.0, le=1.0)
    """The dataset drifts when drifted columns / tested columns >= drift_share (Evidently's rule)."""
    method: MethodName | None = None
    """Method for every column; default: the automatic choice."""
    method_by_type: dict[TestedType, MethodName] = Field(default_factory=dict)
    """Method per column type (binary falls back to categorical)."""
    method_by_column: dict[str, MethodName] = Field(default_factory=dict)
    """Method per column; wins over the per-type and global methods."""
    threshold: float | None = Field(default=None, ge=0.0)
    """Threshold for every column; default: the method's own."""
    threshold_by_type: dict[TestedType, float] = Field(default_factory=dict)
    """Threshold per column type (binary falls back to categorical)."""
    threshold_by_column: dict[str, float] = Field(default_factory=dict)
    """Threshold per column; wins over the per-type and global thresholds."""
    column_types: dict[str, ColumnType] = Field(default_factory=dict)
    """Column types that override the inferred ones."""
    seed: int = 0
    """Seed of the permutation tests (TVD, empirical_mmd)."""
    workers: int = Field(default=1, ge=1)
    """Threads testing columns of large frames at once (numpy releases the GIL); 1 runs them in turn, which was
    as fast on a busy 2-CPU machine: memory bandwidth, not the GIL, bounds a column's sorts and merges."""

    def named_columns(self) -> set[str]:
        """Every column the options mention by name."""
        named = set(self.columns or ())
        named |= set(self.method_by_column) | set(self.threshold_by_column) | set(self.column_types)
        if self.prediction is not None:
            named.add(self.prediction)
        return named
