"""`jensenshannon`: Jensen-Shannon distance (natural log) between Evidently's binned shares.

Evidently's default for categorical columns, and for numeric columns with at most 5 distinct values, when the
reference has more than 1,000 rows. Bins as in `detectors.drift.binning` without zero filling, then
`scipy.spatial.distance.jensenshannon`. Drift when the distance >= threshold (default 0.1).
"""

from __future__ import annotations

from typing import ClassVar

from scipy.spatial import distance

from detectors.drift.base import Comparison, DriftMethod, ScoreKind
from detectors.drift.binning import binned_shares
from detectors.drift.sample import FeatureKind, Sample


class JensenShannon(DriftMethod):
    """Jensen-Shannon distance of the binned distributions."""

    name: ClassVar[str] = "jensenshannon"
    score_kind: ClassVar[ScoreKind] = "distance"
    feature_kinds: ClassVar[frozenset[FeatureKind]] = frozenset({"numeric", "categorical"})
    default_threshold: ClassVar[float] = 0.1
    drifted_when: ClassVar[Comparison] = ">="

    def score(self, sample: Sample) -> float:
        """The Jensen-Shannon distance (square root of the divergence), base e."""
        ref, cur = binned_shares(sample, fill_zeroes=False)
        return float(distance.jensenshannon(ref, cur))
