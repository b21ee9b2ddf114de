"""Column types by name: what configuration may name, apart from their inference (`detectors.columns`).

Kept free of pandas and numpy so that validating a monitor's configuration imports neither.
"""

from __future__ import annotations

from typing import Literal

ColumnType = Literal["numeric", "categorical", "binary", "text", "id"]
COLUMN_TYPES: tuple[ColumnType, ...] = ("numeric", "categorical", "binary", "text", "id")
