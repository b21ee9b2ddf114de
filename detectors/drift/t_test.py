"""`t_test`: Student's two-sample t-test with pooled variance (scipy `ttest_ind`, two-sided).

Drift when p < threshold (default 0.05). Effect size: Cohen's d. With zero variance on both sides the test is
undefined (scipy's NaN) and the column gets no verdict.
"""

from __future__ import annotations

from typing import ClassVar

from scipy.stats import ttest_ind

from detectors.drift.base import Comparison, DriftMethod, ScoreKind, quiet
from detectors.drift.effect import EffectSize, cohens_d
from detectors.drift.sample import FeatureKind, Sample


class StudentT(DriftMethod):
    """Two-sided pooled-variance t-test p-value."""

    name: ClassVar[str] = "t_test"
    score_kind: ClassVar[ScoreKind] = "p_value"
    feature_kinds: ClassVar[frozenset[FeatureKind]] = frozenset({"numeric"})
    default_threshold: ClassVar[float] = 0.05
    drifted_when: ClassVar[Comparison] = "<"

    def score(self, sample: Sample) -> float:
        """The t-test p-value (NaN when undefined)."""
        with quiet():
            return float(ttest_ind(sample.reference, sample.current)[1])

    def effect_size(self, sample: Sample) -> EffectSize | None:
        """Cohen's d, the t-test's own effect size."""
        d = cohens_d(sample)
        return None if d is None else EffectSize("cohens_d", d)
