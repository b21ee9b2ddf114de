"""`ks`: two-sample Kolmogorov-Smirnov test (scipy `ks_2samp`, two-sided, method "auto").

Evidently's default for numeric columns with more than 5 distinct values when the reference has at most 1,000
rows. Score: the p-value; drift when p <= threshold (default 0.05). Effect size: normed Wasserstein distance.
"""

from __future__ import annotations

from typing import ClassVar

from scipy.stats import ks_2samp

from detectors.drift.base import Comparison, DriftMethod, ScoreKind, quiet
from detectors.drift.sample import FeatureKind, Sample


class KolmogorovSmirnov(DriftMethod):
    """Two-sample Kolmogorov-Smirnov p-value."""

    name: ClassVar[str] = "ks"
    score_kind: ClassVar[ScoreKind] = "p_value"
    feature_kinds: ClassVar[frozenset[FeatureKind]] = frozenset({"numeric"})
    default_threshold: ClassVar[float] = 0.05
    drifted_when: ClassVar[Comparison] = "<="

    def score(self, sample: Sample) -> float:
        """The two-sided KS p-value (scipy falls back from exact to asymptotic silently)."""
        with quiet():
            return float(ks_2samp(sample.reference, sample.current)[1])
