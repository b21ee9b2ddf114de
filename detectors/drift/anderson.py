"""`anderson`: k-sample Anderson-Darling test (scipy `anderson_ksamp`, midrank variant).

scipy interpolates the p-value from a table and caps it to [0.001, 0.25]: a score of 0.25 means "0.25 or
more". Drift when p < threshold (Evidently's default 0.1). Effect size: normed Wasserstein distance.
"""

from __future__ import annotations

from typing import ClassVar

from scipy.stats import anderson_ksamp

from detectors.drift.base import Comparison, DriftMethod, InsufficientDataError, ScoreKind, quiet
from detectors.drift.sample import FeatureKind, Sample

# scipy's variance of the statistic divides by (N - 1)(N - 2)(N - 3).
MIN_VALUES = 4


class AndersonDarling(DriftMethod):
    """Anderson-Darling k-sample p-value (capped to [0.001, 0.25])."""

    name: ClassVar[str] = "anderson"
    score_kind: ClassVar[ScoreKind] = "p_value"
    feature_kinds: ClassVar[frozenset[FeatureKind]] = frozenset({"numeric"})
    default_threshold: ClassVar[float] = 0.1
    drifted_when: ClassVar[Comparison] = "<"

    def score(self, sample: Sample) -> float:
        """The interpolated Anderson-Darling p-value."""
        if sample.union_nunique < 2 or sample.n_reference + sample.n_current < MIN_VALUES:
            raise InsufficientDataError(f"anderson needs two distinct values and {MIN_VALUES} values in all")
        with quiet():
            return float(anderson_ksamp([sample.reference, sample.current], variant="midrank").pvalue)
