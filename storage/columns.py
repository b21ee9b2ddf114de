"""Record rows fetched for a window, turned into columns and then into a DataFrame (see `storage.windows`).

Rows arrive in chunks as (ts, request_id, row, features, prediction, label), JSON columns as text. Each chunk
becomes one numpy array per column (a list per column first, cheaper than a dict per row; types inferred
after one C-level pass over them), and the chunks of a column are concatenated once at the end, under the
same inference rules. Nothing the size of the window is kept in Python lists or lists of lists: the garbage
collector walks every element of a live list on each full collection, and with a million records that
tripled the time of a load. For the same reason (and because a reference read back from Parquet holds the
same) prediction vectors become float64 numpy arrays.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

if TYPE_CHECKING:
    import pandas as pd

META_COLUMNS = ("ts", "request_id", "row")
PREDICTION = "prediction"
PREDICTION_ARGMAX = "prediction_argmax"
LABEL = "label"
RESERVED = frozenset((*META_COLUMNS, PREDICTION, PREDICTION_ARGMAX, LABEL))
FEATURE_PREFIX = "features."
"""Prefix of a feature whose name is one of RESERVED (a feature `label` becomes `features.label`)."""


def feature_column(name: str) -> str:
    """The window column that holds feature `name`."""
    return FEATURE_PREFIX + name if name in RESERVED else name


Array = np.ndarray[Any, Any]
_DIGITS = re.compile(r"(\d+)")
Kinds = frozenset[type]
_NONE = type(None)
_NUMBER_KINDS: Kinds = frozenset({float, int, _NONE})


def _dtype(kinds: Kinds) -> Any:
    """pandas' inference from the set of value types: None with numbers gives float64 (NaN)."""
    if kinds == {int}:
        return np.int64
    if kinds == {bool}:
        return np.bool_
    if kinds and kinds <= _NUMBER_KINDS and kinds != {_NONE}:
        return np.float64
    return object


def to_array(values: list[Any], kinds: Kinds | None = None) -> Array:
    """A column as numpy, inferred like pandas (see `_dtype`) after one C-level pass over the value types.

    Anything but numbers and bools (strings, mixed types, lists, objects, bools with missing values) gives an
    object array of the values as they are.
    """
    dtype = _dtype(frozenset(map(type, values)) if kinds is None else kinds)
    if dtype is not object:
        try:
            return np.array(values, dtype=dtype)  # None becomes NaN in float64
        except OverflowError:  # an int beyond int64 (JSON allows up to uint64)
            pass
    return np.fromiter(values, dtype=object, count=len(values))


def _as_objects(array: Array, kinds: Kinds) -> Array:
    """A chunk converted for an object column: NaN (only ever a JSON null) back to None, ints back to int."""
    if array.dtype.kind != "f":
        return array.astype(object)
    if int in kinds and float not in kinds:
        values: list[Any] = [None if v != v else int(v) for v in array.tolist()]
    else:  # a chunk that mixed ints and floats keeps its ints as floats (the one difference from pandas)
        values = [None if v != v else v for v in array.tolist()]
    return np.fromiter(values, dtype=object, count=len(values))


Part = tuple[Array, Kinds] | int
"""A column chunk with the types of its values, or the number of missing values it stands for."""


def concat(parts: list[Part]) -> Array:
    """Join a column's chunks into the array `to_array` would make of all its values at once."""
    chunks = [p for p in parts if not isinstance(p, int)]
    kinds: Kinds = frozenset().union(*(k for _, k in chunks))
    if len(chunks) < len(parts):
        kinds |= {_NONE}
    dtype = _dtype(kinds)
    if any(array.dtype == object for array, _ in chunks):
        dtype = object  # a chunk of ints beyond int64
    pieces: list[Array] = []
    for part in parts:
        if isinstance(part, int):
            pieces.append(np.full(part, np.nan if dtype is np.float64 else None, dtype=dtype))
        elif dtype is object:
            pieces.append(_as_objects(*part))
        else:
            pieces.append(part[0].astype(dtype, copy=False))
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=dtype)


def chunk(values: list[Any]) -> Part:
    """`values` as a column chunk (an int when they are all missing)."""
    kinds = frozenset(map(type, values))
    if kinds <= {_NONE}:
        return len(values)
    return to_array(values, kinds), kinds


def _join(arrays: list[Array], dtype: Any) -> Array:
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype=dtype)


def natural_key(name: str) -> list[str | int]:
    """Sort key that puts `f2` before `f10`: runs of digits compare as numbers."""
    return [int(part) if i % 2 else part for i, part in enumerate(_DIGITS.split(name))]


class _Column:
    """One column's chunks; a column first seen after some rows starts with that many missing values."""

    def __init__(self, missing: int = 0) -> None:
        self.parts: list[Part] = [missing] if missing else []

    def add(self, values: list[Any]) -> None:
        self.parts.append(chunk(values))

    def array(self) -> Array:
        return concat(self.parts)


class _Predictions:
    """The prediction column: scalars as they are, one-element lists unwrapped, numeric lists as vectors."""

    def __init__(self) -> None:
        self.column = _Column()
        self.has_vectors = False
        self._best: list[Array] = []
        self._missing: list[Array] = []

    def add(self, parsed: list[Any]) -> None:
        best = np.zeros(len(parsed), dtype=np.int64)
        missing = np.ones(len(parsed), dtype=np.bool_)
        if list not in set(map(type, parsed)):  # scalars only: the common case, nothing to unwrap
            self.column.add(parsed)
            self._best.append(best)
            self._missing.append(missing)
            return
        values = [p[0] if type(p) is list and len(p) == 1 else p for p in parsed]
        at = [i for i, p in enumerate(values) if type(p) is list]
        if at:
            self.has_vectors = True
            lists = [values[i] for i in at]
            width = len(lists[0])
            if (
                width
                and all(len(p) == width for p in lists)
                and set(map(type, chain.from_iterable(lists))) <= _NUMBER_KINDS
            ):
                matrix = np.array(lists, dtype=np.float64)  # the common case: probability vectors
                best[at] = matrix.argmax(axis=1)
                missing[at] = np.isnan(matrix).any(axis=1)
                for i, vector in zip(at, matrix, strict=True):
                    values[i] = vector
            else:
                for i in at:
                    if values[i] and set(map(type, values[i])) <= _NUMBER_KINDS:
                        vector = np.array(values[i], dtype=np.float64)
                        values[i] = vector
                        if not np.isnan(vector).any():
                            best[i], missing[i] = vector.argmax(), False
        self.column.add(values)
        self._best.append(best)
        self._missing.append(missing)

    def argmax(self) -> pd.arrays.IntegerArray:
        """Index of the largest value of each vector; NA where there is no vector or it has a NaN."""
        import pandas as pd

        if not self._best:
            return pd.arrays.IntegerArray(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.bool_))
        return pd.arrays.IntegerArray(np.concatenate(self._best), np.concatenate(self._missing))


class ColumnBuilder:
    """Accumulates fetched rows as columns; `add` chunk by chunk, then `frame` once."""

    def __init__(self, features: Sequence[str] | None = None) -> None:
        self._fixed = features is not None
        self._features: dict[str, _Column] = {name: _Column() for name in features or ()}
        self._ts: list[Array] = []
        self._request_id: list[Array] = []
        self._row: list[Array] = []
        self._prediction = _Predictions()
        self._label = _Column()
        self._rows = 0
        self.skipped = 0
        """Rows whose features were not a JSON object."""

    def __len__(self) -> int:
        return self._rows

    def add(self, rows: Sequence[Any]) -> None:
        """Append fetched rows: (ts, request_id, row, features, prediction, label), JSON columns as text."""
        loads = orjson.loads
        parsed = [loads(r[3]) for r in rows]
        if set(map(type, parsed)) != {dict}:
            kept = [i for i, f in enumerate(parsed) if type(f) is dict]
            self.skipped += len(parsed) - len(kept)
            rows = [rows[i] for i in kept]
            parsed = [parsed[i] for i in kept]
        if not rows:
            return
        self._add_features(parsed)
        self._ts.append(np.array([r[0] for r in rows], dtype=np.float64))
        self._request_id.append(np.array([r[1] for r in rows], dtype=object))
        self._row.append(np.array([r[2] for r in rows], dtype=np.int64))
        self._prediction.add([None if r[4] is None else loads(r[4]) for r in rows])
        self._label.add([None if r[5] is None else loads(r[5]) for r in rows])
        self._rows += len(rows)

    def _add_features(self, parsed: list[dict[str, Any]]) -> None:
        columns = self._features
        if not self._fixed:
            for name in set().union(*parsed).difference(columns):
                columns[name] = _Column(missing=self._rows)  # missing from the rows before
        if not self._fixed and set(map(len, parsed)) == {len(columns)}:
            # Every row has exactly the known names: a C-level lookup, no None for missing names.
            for name, column in columns.items():
                column.add(list(map(itemgetter(name), parsed)))
            return
        for name, column in columns.items():
            column.add([f.get(name) for f in parsed])

    def frame(self, *, reverse: bool = False) -> pd.DataFrame:
        """The DataFrame of everything added (in reverse order of arrival when `reverse`)."""
        import pandas as pd

        data: dict[str, Any] = {
            "ts": _join(self._ts, np.float64),
            "request_id": _join(self._request_id, object),
            "row": _join(self._row, np.int64),
        }
        names = list(self._features) if self._fixed else sorted(self._features, key=natural_key)
        for name in names:
            data[feature_column(name)] = self._features[name].array()
        data[PREDICTION] = self._prediction.column.array()
        if self._prediction.has_vectors:
            data[PREDICTION_ARGMAX] = self._prediction.argmax()
        data[LABEL] = self._label.array()
        if reverse:
            data = {name: values[::-1] for name, values in data.items()}
        return pd.DataFrame(data, copy=False)
