"""`psi`: Population Stability Index over Evidently's binned shares.

PSI = sum((ref - cur) * ln(ref / cur)) with empty buckets filled (see `detectors.drift.binning`). Drift when
PSI >= threshold (default 0.1; the usual reading is < 0.1 stable, 0.1-0.2 moderate, > 0.2 major shift).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from detectors.drift.base import Comparison, DriftMethod, ScoreKind
from detectors.drift.binning import binned_shares
from detectors.drift.sample import FeatureKind, Sample


class PopulationStabilityIndex(DriftMethod):
    """Population Stability Index."""

    name: ClassVar[str] = "psi"
    score_kind: ClassVar[ScoreKind] = "distance"
    feature_kinds: ClassVar[frozenset[FeatureKind]] = frozenset({"numeric", "categorical"})
    default_threshold: ClassVar[float] = 0.1
    drifted_when: ClassVar[Comparison] = ">="

    def score(self, sample: Sample) -> float:
        """The PSI of reference versus current shares."""
        ref, cur = binned_shares(sample, fill_zeroes=True)
        return float(np.sum((ref - cur) * np.log(ref / cur)))
