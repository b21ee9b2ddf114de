"""`ed`: energy distance between the two samples (scipy `energy_distance`), *not* normalised.

sqrt(2) times the L2 distance between the empirical CDFs, in the column's own units: the default threshold 0.1
(drift when the distance > 0.1, strictly) only makes sense for data on a unit scale. Computed from the sorted
samples like `wasserstein` (see `detectors.drift.cdf`).
"""

from __future__ import annotations

from typing import ClassVar

from detectors.drift.base import Comparison, DriftMethod, ScoreKind
from detectors.drift.cdf import energy
from detectors.drift.sample import FeatureKind, Sample


class EnergyDistance(DriftMethod):
    """Energy distance in the column's units."""

    name: ClassVar[str] = "ed"
    score_kind: ClassVar[ScoreKind] = "distance"
    feature_kinds: ClassVar[frozenset[FeatureKind]] = frozenset({"numeric"})
    default_threshold: ClassVar[float] = 0.1
    drifted_when: ClassVar[Comparison] = ">"

    def score(self, sample: Sample) -> float:
        """The energy distance of reference and current."""
        return energy(sample.sorted_reference, sample.sorted_current)
