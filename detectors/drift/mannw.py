"""`mannw`: Mann-Whitney U rank test, as Evidently runs it: one-sided, alternative "less".

`scipy.stats.mannwhitneyu(x=reference, y=current, alternative="less")`: small p-values mean the reference is
stochastically *smaller* than the current data, so only an upward shift of the current data is detected.
Drift when p < threshold (default 0.05). Effect size: normed Wasserstein distance.
"""

from __future__ import annotations

from typing import ClassVar

from scipy.stats import mannwhitneyu

from detectors.drift.base import Comparison, DriftMethod, ScoreKind, quiet
from detectors.drift.sample import FeatureKind, Sample


class MannWhitney(DriftMethod):
    """One-sided ("less") Mann-Whitney U p-value."""

    name: ClassVar[str] = "mannw"
    score_kind: ClassVar[ScoreKind] = "p_value"
    feature_kinds: ClassVar[frozenset[FeatureKind]] = frozenset({"numeric"})
    default_threshold: ClassVar[float] = 0.05
    drifted_when: ClassVar[Comparison] = "<"

    def score(self, sample: Sample) -> float:
        """The Mann-Whitney p-value for reference < current."""
        with quiet():
            return float(mannwhitneyu(x=sample.reference, y=sample.current, alternative="less")[1])
