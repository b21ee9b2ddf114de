"""The data-quality detector: reference and current frames in, per-column and per-dataset findings out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import pandas as pd

from detectors.columns import ColumnType, infer_column_types
from detectors.errors import ColumnError, InsufficientDataError
from detectors.quality.checks import Breach, ColumnQuality, column_findings
from detectors.quality.thresholds import QualityCheck, QualityThresholds


@dataclass(frozen=True, slots=True)
class DatasetQuality:
    """Row counts, column presence, per-column findings and every breached threshold."""

    n_rows_reference: int
    n_rows_current: int
    row_count_change: float
    missing_columns: tuple[str, ...]
    new_columns: tuple[str, ...]
    columns: tuple[ColumnQuality, ...]
    breaches: tuple[Breach, ...]

    @property
    def ok(self) -> bool:
        """True when no threshold is breached."""
        return not self.breaches

    @property
    def breached_columns(self) -> tuple[str, ...]:
        """Columns with at least one breach, in column order."""
        return tuple(c.name for c in self.columns if c.breaches)

    def column(self, name: str) -> ColumnQuality:
        """One column's findings by name."""
        return next(c for c in self.columns if c.name == name)


def _over(
    check: QualityCheck, column: str | None, value: float | None, limit: float | None, what: str
) -> list[Breach]:
    """A one-element list when `value` exceeds `limit` (both defined), else an empty one."""
    if value is None or limit is None or value <= limit:
        return []
    where = f"column {column!r}: " if column is not None else ""
    return [Breach(check, column, value, limit, f"{where}{what} {value:.4g} exceeds {limit:.4g}")]


def column_breaches(c: ColumnQuality, t: QualityThresholds) -> tuple[Breach, ...]:
    """The thresholds one column's findings breach."""
    found = [
        *_over("missing_share", c.name, c.missing_share_current, t.max_missing_share, "missing share"),
        *_over(
            "missing_share_increase",
            c.name,
            c.missing_share_change,
            t.max_missing_share_increase,
            "missing share increase",
        ),
        *_over(
            "out_of_range_share", c.name, c.out_of_range_share, t.max_out_of_range_share, "out-of-range share"
        ),
        *_over(
            "new_category_share", c.name, c.new_category_share, t.max_new_category_share, "new-category share"
        ),
        *_over(
            "vanished_category_share",
            c.name,
            c.vanished_category_share,
            t.max_vanished_category_share,
            "vanished-category share",
        ),
        *_over(
            "type_mismatch_share",
            c.name,
            c.type_mismatch_share,
            t.max_type_mismatch_share,
            "non-number share",
        ),
    ]
    newly_constant = c.constant_current and not c.constant_reference
    if c.constant_current and (t.constant == "always" or (t.constant == "new" and newly_constant)):
        found.append(Breach("constant", c.name, 1.0, 0.0, f"column {c.name!r}: current values are constant"))
    return tuple(found)


def _dataset_breaches(
    n_ref: int, n_cur: int, missing: tuple[str, ...], new: tuple[str, ...], t: QualityThresholds
) -> list[Breach]:
    """Breaches of the row-count and column-presence thresholds."""
    found = []
    if n_cur < t.min_rows:
        found.append(
            Breach("row_count", None, n_cur, t.min_rows, f"{n_cur} current rows, fewer than {t.min_rows}")
        )
    found += _over(
        "row_count_change", None, abs(n_cur / n_ref - 1), t.max_row_count_change, "row count change"
    )
    if missing and not t.allow_missing_columns:
        found.append(
            Breach("missing_column", None, len(missing), 0, f"columns missing: {', '.join(missing)}")
        )
    if new and not t.allow_new_columns:
        found.append(Breach("new_column", None, len(new), 0, f"unexpected new columns: {', '.join(new)}"))
    return found


def check_quality(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    thresholds: QualityThresholds | None = None,
    overrides: Mapping[str, ColumnType] | None = None,
) -> DatasetQuality:
    """Compare the current frame's data quality with the reference's; column types come from the reference."""
    t = thresholds or QualityThresholds()
    if len(reference) == 0:
        raise InsufficientDataError("the reference has no rows; there is nothing to compare with")
    try:
        infos = infer_column_types(reference, overrides)
    except KeyError as exc:
        raise ColumnError(str(exc.args[0])) from None
    missing = tuple(name for name in infos if name not in current.columns)
    new = tuple(str(c) for c in current.columns if str(c) not in infos)
    columns = []
    for name, info in infos.items():
        if name in current.columns:
            findings = column_findings(info, reference[name], current[name])
            columns.append(replace(findings, breaches=column_breaches(findings, t)))
    dataset = _dataset_breaches(len(reference), len(current), missing, new, t)
    return DatasetQuality(
        n_rows_reference=len(reference),
        n_rows_current=len(current),
        row_count_change=len(current) / len(reference) - 1,
        missing_columns=missing,
        new_columns=new,
        columns=tuple(columns),
        breaches=(*dataset, *(b for c in columns for b in c.breaches)),
    )
