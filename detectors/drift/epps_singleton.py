"""`es`: Epps-Singleton test on the empirical characteristic functions (scipy `epps_singleton_2samp`).

Evidently refuses samples whose pooled interquartile range is 0; scipy needs at least 5 values per sample.
Both cases are reported as unusable data. Drift when p < threshold (default 0.05). Effect size: normed
Wasserstein.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from scipy.stats import epps_singleton_2samp, iqr

from detectors.drift.base import Comparison, DriftMethod, InsufficientDataError, ScoreKind, quiet
from detectors.drift.sample import FeatureKind, Sample

MIN_VALUES = 5


class EppsSingleton(DriftMethod):
    """Epps-Singleton p-value."""

    name: ClassVar[str] = "es"
    score_kind: ClassVar[ScoreKind] = "p_value"
    feature_kinds: ClassVar[frozenset[FeatureKind]] = frozenset({"numeric"})
    default_threshold: ClassVar[float] = 0.05
    drifted_when: ClassVar[Comparison] = "<"

    def score(self, sample: Sample) -> float:
        """The Epps-Singleton p-value."""
        if min(sample.n_reference, sample.n_current) < MIN_VALUES:
            raise InsufficientDataError(f"es needs at least {MIN_VALUES} values on each side")
        if iqr(np.hstack((sample.reference, sample.current))) == 0:
            raise InsufficientDataError("es needs a non-zero interquartile range")
        try:
            with quiet():
                return float(epps_singleton_2samp(sample.reference, sample.current)[1])
        except np.linalg.LinAlgError as exc:  # the covariance estimate breaks down at extreme magnitudes
            raise InsufficientDataError(f"es is numerically unstable for these values: {exc}") from None
