"""Thresholds for data-quality checks, embeddable in a monitor configuration and used by alert rules."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

QualityCheck = Literal[
    "missing_share",
    "missing_share_increase",
    "out_of_range_share",
    "new_category_share",
    "vanished_category_share",
    "type_mismatch_share",
    "constant",
    "row_count",
    "row_count_change",
    "missing_column",
    "new_column",
]


class QualityThresholds(BaseModel):
    """When a data-quality finding becomes a breach; a share threshold of None switches that check off."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    max_missing_share: float | None = Field(default=None, ge=0.0, le=1.0)
    """Cap on a column's current missing share; off by default since sparse columns are normal."""

    max_missing_share_increase: float | None = Field(default=0.05, ge=0.0, le=1.0)
    """Cap on current minus reference missing share (a broken feed shows up here)."""

    max_out_of_range_share: float | None = Field(default=0.05, ge=0.0, le=1.0)
    """Cap on the share of current numbers outside [reference min, reference max]."""

    max_new_category_share: float | None = Field(default=0.01, ge=0.0, le=1.0)
    """Cap on the share of current rows whose category never occurs in the reference."""

    max_vanished_category_share: float | None = Field(default=0.05, ge=0.0, le=1.0)
    """Cap on the share of reference rows whose category no longer occurs in the current data."""

    max_type_mismatch_share: float | None = Field(default=0.0, ge=0.0, le=1.0)
    """Cap on the share of current values that are not numbers in a column the reference holds numbers in."""

    constant: Literal["never", "new", "always"] = "new"
    """Breach on a constant current column: never, only when the reference varied, or always."""

    min_rows: int = Field(default=1, ge=0)
    """Fewest current rows that are not a breach."""

    max_row_count_change: float | None = Field(default=None, ge=0.0)
    """Cap on |current rows / reference rows - 1|; off by default since batches differ in size."""

    allow_missing_columns: bool = False
    """Whether a reference column absent from the current data is acceptable."""

    allow_new_columns: bool = True
    """Whether a current column absent from the reference is acceptable."""
