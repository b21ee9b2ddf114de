"""`wasserstein`: first Wasserstein distance normed by the reference standard deviation.

Evidently's default for numeric columns (more than 5 distinct values) when the reference has more than 1,000
rows: `scipy.stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001)`, drift when the score >=
threshold (default 0.1, i.e. a tenth of a reference standard deviation). Computed from the sorted samples in
O(n) after the sort (see `detectors.drift.cdf`). A distance: no separate effect size.
"""

from __future__ import annotations

from typing import ClassVar

from detectors.drift.base import Comparison, DriftMethod, ScoreKind
from detectors.drift.effect import wasserstein_norm
from detectors.drift.sample import FeatureKind, Sample


class WassersteinNorm(DriftMethod):
    """Reference-std-normed Wasserstein-1 distance."""

    name: ClassVar[str] = "wasserstein"
    score_kind: ClassVar[ScoreKind] = "distance"
    feature_kinds: ClassVar[frozenset[FeatureKind]] = frozenset({"numeric"})
    default_threshold: ClassVar[float] = 0.1
    drifted_when: ClassVar[Comparison] = ">="

    def score(self, sample: Sample) -> float:
        """Wasserstein distance over max(reference std, 0.001)."""
        return wasserstein_norm(sample)
