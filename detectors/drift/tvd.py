"""`TVD`: permutation test on the total variation distance between the category shares.

TVD = 0.5 * sum |p_ref - p_cur|. Evidently's p-value is the share of 1,000 random relabellings of the pooled
values whose TVD is at least the observed one, drawn with `np.random.seed(0)` and `np.random.choice(...,
replace=False)`; the same stream is reproduced here with a private `RandomState(0)` (no global seeding), and
TVDs are computed in Evidently's floating-point arithmetic over the sorted categories, so near-ties resolve as
Evidently resolves them. (Evidently iterates categories in `set` order, which for strings follows the
interpreter's hash seed: its own p-value for string categories can differ by a few permutations between runs.)
Above `EXACT_STREAM_LIMIT` pooled values the relabellings are drawn as multivariate hypergeometric counts
instead: the same null distribution, a different random stream. Drift when p < threshold (default 0.1). Effect size: Cramér's V.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from detectors.drift.base import Comparison, DriftMethod, ScoreKind
from detectors.drift.sample import FeatureKind, Sample

ITERATIONS = 1000
EXACT_STREAM_LIMIT = 50_000


def _tvd(ref_counts: np.ndarray, cur_counts: np.ndarray, n_ref: int, n_cur: int) -> np.ndarray:
    """TVD per row of counts (last axis = categories), in Evidently's floating-point arithmetic."""
    tvd: np.ndarray = 0.5 * np.sum(np.abs(ref_counts / n_ref - cur_counts / n_cur), axis=-1)
    return tvd


class TotalVariation(DriftMethod):
    """Permutation p-value of the total variation distance."""

    name: ClassVar[str] = "TVD"
    score_kind: ClassVar[ScoreKind] = "p_value"
    feature_kinds: ClassVar[frozenset[FeatureKind]] = frozenset({"categorical"})
    default_threshold: ClassVar[float] = 0.1
    drifted_when: ClassVar[Comparison] = "<"

    def __init__(self, seed: int = 0, iterations: int = ITERATIONS) -> None:
        self.seed = seed
        self.iterations = iterations

    def score(self, sample: Sample) -> float:
        """The share of relabellings at least as far apart as the observed samples."""
        cats = sample.categories
        n_ref, n_cur = sample.n_reference, sample.n_current
        observed = _tvd(cats.reference_counts, cats.current_counts, n_ref, n_cur)
        totals = cats.reference_counts + cats.current_counts
        k = len(cats.keys)
        if n_ref + n_cur <= EXACT_STREAM_LIMIT:
            pooled = np.concatenate((cats.reference_codes, cats.current_codes))
            state = np.random.RandomState(self.seed)
            perm_ref = np.empty((self.iterations, k), dtype=np.int64)
            for i in range(self.iterations):
                perm_ref[i] = np.bincount(pooled[state.permutation(n_ref + n_cur)[:n_ref]], minlength=k)
        else:
            perm_ref = np.random.default_rng(self.seed).multivariate_hypergeometric(
                totals, n_ref, size=self.iterations
            )
        permuted = _tvd(perm_ref, totals - perm_ref, n_ref, n_cur)
        return float(np.count_nonzero(observed <= permuted)) / self.iterations
