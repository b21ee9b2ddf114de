"""The drift method interface, its result type, the method registry and the drift error tree.

A method implements one hook, `score(sample)`; the base class owns the threshold comparison and the effect
size, the same split as alibi-detect's `BaseUnivariateDrift.feature_score` and Evidently's `StatTest`.
"""

from __future__ import annotations

import math
import operator
import threading
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar, Literal

from detectors.columns import ColumnType
from detectors.drift.effect import EffectSize, default_effect_size
from detectors.drift.errors import (
    DriftError,
    DuplicateColumnError,
    InsufficientDataError,
    MethodNotApplicableError,
    MissingColumnError,
    UnknownMethodError,
)
from detectors.drift.sample import FeatureKind, Sample

ScoreKind = Literal["p_value", "distance"]
Comparison = Literal["<", "<=", ">", ">="]

_COMPARE: dict[Comparison, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
# warnings.catch_warnings swaps process-wide state; columns may run in threads, so one block at a time.
_WARNINGS_LOCK = threading.Lock()


@contextmanager
def quiet() -> Iterator[None]:
    """Silence the warnings scipy emits for capped p-values or fallbacks, thread-safely."""
    with _WARNINGS_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@dataclass(frozen=True, slots=True)
class ColumnDrift:
    """The drift verdict for one column.

    `score` is a p-value when `score_kind == "p_value"` (drift when small) and a distance otherwise (drift
    when large); `None` when the column was skipped or the statistic is undefined. For p-value methods
    `effect_size` says how large the shift is regardless of sample size (see `detectors.drift.effect`), so a
    tiny but "significant" shift on a million rows can be told apart from a real one.
    """

    column: str
    column_type: ColumnType
    method: str | None
    score: float | None
    threshold: float | None
    drifted: bool
    score_kind: ScoreKind | None
    effect_size: float | None = None
    effect_size_name: str | None = None
    n_reference: int = 0
    n_current: int = 0
    skip_reason: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def skipped(self) -> bool:
        """True when no test was run for this column."""
        return self.skip_reason is not None


class DriftMethod(ABC):
    """One univariate drift method, named and defined as in Evidently."""

    name: ClassVar[str]
    score_kind: ClassVar[ScoreKind]
    feature_kinds: ClassVar[frozenset[FeatureKind]]
    default_threshold: ClassVar[float]
    # How Evidently compares the score with the threshold to call drift (it is not uniform across methods).
    drifted_when: ClassVar[Comparison]

    @abstractmethod
    def score(self, sample: Sample) -> float:
        """The p-value or distance for one column's reference and current values."""

    def effect_size(self, sample: Sample) -> EffectSize | None:
        """A sample-size-free effect size for p-value methods; distances are their own effect size."""
        return default_effect_size(sample) if self.score_kind == "p_value" else None

    def notes(self, sample: Sample) -> tuple[str, ...]:
        """Caveats about how the score was computed for this sample (e.g. subsampling)."""
        return ()

    def is_drifted(self, score: float, threshold: float) -> bool:
        """Apply the method's own comparison; an undefined (NaN) score is never drift."""
        return not math.isnan(score) and _COMPARE[self.drifted_when](score, threshold)

    def accepts(self, kind: FeatureKind) -> bool:
        """True when the method is defined for this kind of feature."""
        return kind in self.feature_kinds


__all__ = [
    "ColumnDrift",
    "DriftError",
    "DriftMethod",
    "DuplicateColumnError",
    "InsufficientDataError",
    "MethodNotApplicableError",
    "MethodRegistry",
    "MissingColumnError",
    "UnknownMethodError",
    "quiet",
]


class MethodRegistry:
    """Drift methods by name, so configuration picks an implementation by string."""

    def __init__(self, methods: Iterable[DriftMethod] = ()) -> None:
        self._methods: dict[str, DriftMethod] = {}
        for method in methods:
            self.register(method)

    def register(self, method: DriftMethod) -> None:
        """Add a method, refusing to shadow an existing name."""
        if method.name in self._methods:
            raise ValueError(f"drift method {method.name!r} is already registered")
        self._methods[method.name] = method

    def get(self, name: str) -> DriftMethod:
        """The method registered under `name`, or UnknownMethodError listing the known names."""
        try:
            return self._methods[name]
        except KeyError:
            raise UnknownMethodError(
                f"unknown drift method {name!r}; known: {', '.join(sorted(self._methods))}"
            ) from None

    def names(self) -> list[str]:
        """Registered method names in registration order."""
        return list(self._methods)

    def __contains__(self, name: object) -> bool:
        return name in self._methods
