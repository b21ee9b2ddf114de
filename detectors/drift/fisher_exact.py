"""`fisher_exact`: Fisher's exact test on the 2 x 2 table sample x class, for binary columns.

Evidently's table is [[ones_cur, zeros_cur], [ones_ref, zeros_ref]] fed to `scipy.stats.fisher_exact`
(two-sided). Evidently also demands equal sample sizes, which the test itself does not need: here any sizes
are accepted (equal sizes give Evidently's value). More than two values overall is unusable data. Drift when p
< threshold (default 0.1). Effect size: Cramér's V (phi).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from scipy.stats import fisher_exact

from detectors.drift.base import Comparison, DriftMethod, InsufficientDataError, ScoreKind
from detectors.drift.sample import FeatureKind, Sample


class FisherExact(DriftMethod):
    """Two-sided Fisher exact p-value for a binary column."""

    name: ClassVar[str] = "fisher_exact"
    score_kind: ClassVar[ScoreKind] = "p_value"
    feature_kinds: ClassVar[frozenset[FeatureKind]] = frozenset({"categorical"})
    default_threshold: ClassVar[float] = 0.1
    drifted_when: ClassVar[Comparison] = "<"

    def score(self, sample: Sample) -> float:
        """Fisher's exact p-value of the 2 x 2 table."""
        cats = sample.categories
        if len(cats.keys) > 2:
            raise InsufficientDataError(f"fisher_exact needs a binary column, found {len(cats.keys)} values")
        ref = np.zeros(2, dtype=np.int64)
        cur = np.zeros(2, dtype=np.int64)
        ref[: len(cats.keys)] = cats.reference_counts
        cur[: len(cats.keys)] = cats.current_counts
        table = np.array([[cur[1], cur[0]], [ref[1], ref[0]]])
        return float(fisher_exact(table)[1])
