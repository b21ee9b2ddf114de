"""`chisquare`: Pearson's chi-square goodness of fit of current counts to reference proportions.

Evidently scales the reference counts to the current size (expected = reference count * n_cur / n_ref) and
calls `scipy.stats.chisquare(observed, expected)`. Its default for categorical columns with more than 2 values
when the reference has at most 1,000 rows. A category absent from the reference makes the statistic infinite:
p = 0. Score: the p-value; drift when p < threshold (default 0.05). Effect size: Cramér's V.
"""

from __future__ import annotations

from typing import ClassVar

from scipy.stats import chisquare

from detectors.drift.base import Comparison, DriftMethod, ScoreKind, quiet
from detectors.drift.sample import FeatureKind, Sample


class ChiSquare(DriftMethod):
    """Chi-square p-value of current category counts against the reference proportions."""

    name: ClassVar[str] = "chisquare"
    score_kind: ClassVar[ScoreKind] = "p_value"
    feature_kinds: ClassVar[frozenset[FeatureKind]] = frozenset({"categorical"})
    default_threshold: ClassVar[float] = 0.05
    drifted_when: ClassVar[Comparison] = "<"

    def score(self, sample: Sample) -> float:
        """The chi-square p-value over all categories of both samples."""
        cats = sample.categories
        if (cats.reference_counts == 0).any():
            return 0.0
        expected = cats.reference_counts * (sample.n_current / sample.n_reference)
        with quiet():  # one category: zero degrees of freedom, p is NaN as in Evidently
            return float(chisquare(cats.current_counts, expected)[1])
