"""`g_test`: G-test (log-likelihood ratio) of current counts against reference counts.

Evidently passes the raw reference counts as expected frequencies, which scipy only accepts when both samples
have the same size; here the expected counts are scaled to the current size (as `chisquare` does), which
equals Evidently's value for equal sizes and is the textbook test otherwise. A category absent from the
reference gives p = 0. Drift when p < threshold (default 0.1). Effect size: Cramér's V.
"""

from __future__ import annotations

from typing import ClassVar

from scipy.stats import power_divergence

from detectors.drift.base import Comparison, DriftMethod, ScoreKind, quiet
from detectors.drift.sample import FeatureKind, Sample


class GTest(DriftMethod):
    """G-test p-value."""

    name: ClassVar[str] = "g_test"
    score_kind: ClassVar[ScoreKind] = "p_value"
    feature_kinds: ClassVar[frozenset[FeatureKind]] = frozenset({"categorical"})
    default_threshold: ClassVar[float] = 0.1
    drifted_when: ClassVar[Comparison] = "<"

    def score(self, sample: Sample) -> float:
        """The G-test p-value over all categories of both samples."""
        cats = sample.categories
        if (cats.reference_counts == 0).any():
            return 0.0
        expected = cats.reference_counts * (sample.n_current / sample.n_reference)
        with quiet():
            return float(power_divergence(cats.current_counts, expected, lambda_="log-likelihood")[1])
