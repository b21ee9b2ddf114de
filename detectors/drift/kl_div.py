"""`kl_div`: Kullback-Leibler divergence KL(reference || current) over Evidently's binned shares.

`scipy.stats.entropy(ref, cur)` (natural log) after filling empty buckets (see `detectors.drift.binning`).
Drift when the divergence >= threshold (default 0.1). Not symmetric: swapping the samples changes the score.
"""

from __future__ import annotations

from typing import ClassVar

from scipy.stats import entropy

from detectors.drift.base import Comparison, DriftMethod, ScoreKind
from detectors.drift.binning import binned_shares
from detectors.drift.sample import FeatureKind, Sample


class KullbackLeibler(DriftMethod):
    """Kullback-Leibler divergence of the binned distributions."""

    name: ClassVar[str] = "kl_div"
    score_kind: ClassVar[ScoreKind] = "distance"
    feature_kinds: ClassVar[frozenset[FeatureKind]] = frozenset({"numeric", "categorical"})
    default_threshold: ClassVar[float] = 0.1
    drifted_when: ClassVar[Comparison] = ">="

    def score(self, sample: Sample) -> float:
        """KL(reference || current) in nats."""
        ref, cur = binned_shares(sample, fill_zeroes=True)
        return float(entropy(ref, cur))
