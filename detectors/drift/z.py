"""`z`: two-proportion z-test, Evidently's default for binary columns when the reference has <= 1,000 rows.

The smallest value (in sort order) is one class and every other value the other. The statistic is
(p1 - p2) / sqrt(P (1 - P) (1/n1 + 1/n2)) with the pooled proportion P; the score is the two-sided p-value
2 (1 - Phi(|z|)), and 1 when both samples hold the same single value. Drift when p < threshold (default 0.05).
Effect size: Cramér's V (the phi coefficient for two categories).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from scipy.stats import norm

from detectors.drift.base import Comparison, DriftMethod, ScoreKind
from detectors.drift.sample import FeatureKind, Sample


class TwoProportionZ(DriftMethod):
    """Two-sided p-value of the two-proportion z-test."""

    name: ClassVar[str] = "z"
    score_kind: ClassVar[ScoreKind] = "p_value"
    feature_kinds: ClassVar[frozenset[FeatureKind]] = frozenset({"categorical"})
    default_threshold: ClassVar[float] = 0.05
    drifted_when: ClassVar[Comparison] = "<"

    def score(self, sample: Sample) -> float:
        """The z-test p-value for the share of values other than the smallest one."""
        cats = sample.categories
        ref_present = np.flatnonzero(cats.reference_counts)
        cur_present = np.flatnonzero(cats.current_counts)
        if len(ref_present) == 1 and len(cur_present) == 1 and ref_present[0] == cur_present[0]:
            return 1.0
        n1, n2 = sample.n_reference, sample.n_current
        p1 = float(n1 - int(cats.reference_counts[0])) / n1
        p2 = float(n2 - int(cats.current_counts[0])) / n2
        pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
        return float(2 * (1 - norm.cdf(np.abs(z))))
