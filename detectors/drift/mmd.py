"""`empirical_mmd`: permutation test on the maximum mean discrepancy with an RBF kernel.

As Evidently: sigma is sqrt(0.5 * median squared distance) of the reference with itself (1/sqrt(2) when that
is 0), the kernel matrix of the pooled sample has its diagonal zeroed, MMD^2 = mean K_xx + mean K_yy - 2 mean
K_xy (unbiased means, K_xy including the diagonal-free block), and the p-value is the share of 100 random
permutations of the pooled sample with an MMD at least the observed one. Evidently draws those permutations
from numpy's *global*, unseeded random state; here they come from a private `RandomState(seed)` (reproducible;
equal to Evidently's after `np.random.seed(seed)`). The kernel matrix is (n + m)^2: each side is subsampled to
`max_rows` values (seeded, noted in the result) beyond that. Drift when p < threshold (default 0.1).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from detectors.drift.base import Comparison, DriftMethod, InsufficientDataError, ScoreKind
from detectors.drift.sample import FeatureKind, FloatArray, Sample

PERMUTATIONS = 100
MAX_ROWS = 1000


def _squared_distances(x: FloatArray, y: FloatArray) -> FloatArray:
    dist: FloatArray = (y**2).T - 2 * np.dot(x, y.T) + x**2
    return dist


def _rbf(x: FloatArray, y: FloatArray, sigma: float | None) -> tuple[FloatArray, float]:
    dist = _squared_distances(x, y)
    if sigma is None:
        sigma = float((0.5 * np.percentile(dist.flatten(), q=50, method="nearest")) ** 0.5) or 0.5**0.5
    return np.exp(-(1.0 / (2.0 * sigma**2)) * dist), sigma


def _mmd(kernel: FloatArray, n_y: int) -> float:
    n_x = kernel.shape[0] - n_y
    k_xx = kernel[:-n_y, :-n_y]
    k_yy = kernel[-n_y:, -n_y:]
    k_xy = kernel[-n_y:, :-n_y]
    # Evidently's exact arithmetic (reciprocal then product), so ties with the observed value resolve alike.
    a = 1 / (n_x * (n_x - 1))
    b = 1 / (n_y * (n_y - 1))
    return float(a * k_xx.sum() + b * k_yy.sum() - 2.0 * k_xy.mean())


def subsample(values: FloatArray, max_rows: int, state: np.random.RandomState) -> FloatArray:
    """At most `max_rows` values drawn without replacement (all of them, in order, when fewer)."""
    if len(values) <= max_rows:
        return values
    return values[np.sort(state.choice(len(values), max_rows, replace=False))]


class EmpiricalMMD(DriftMethod):
    """Permutation p-value of the RBF-kernel maximum mean discrepancy."""

    name: ClassVar[str] = "empirical_mmd"
    score_kind: ClassVar[ScoreKind] = "p_value"
    feature_kinds: ClassVar[frozenset[FeatureKind]] = frozenset({"numeric"})
    default_threshold: ClassVar[float] = 0.1
    drifted_when: ClassVar[Comparison] = "<"

    def __init__(self, seed: int = 0, max_rows: int = MAX_ROWS, permutations: int = PERMUTATIONS) -> None:
        self.seed = seed
        self.max_rows = max_rows
        self.permutations = permutations

    def score(self, sample: Sample) -> float:
        """The share of permutations whose MMD is at least the observed one."""
        if min(sample.n_reference, sample.n_current) < 2:
            raise InsufficientDataError("empirical_mmd needs at least two values on each side")
        sub_state = np.random.RandomState(self.seed)
        x = subsample(sample.reference, self.max_rows, sub_state).reshape(-1, 1)
        y = subsample(sample.current, self.max_rows, sub_state).reshape(-1, 1)
        k_xx, sigma = _rbf(x, x, None)
        k_xy, _ = _rbf(x, y, sigma)
        k_yy, _ = _rbf(y, y, sigma)
        kernel = np.concatenate(
            (np.concatenate((k_xx, k_xy), axis=1), np.concatenate((k_xy.T, k_yy), axis=1))
        )
        kernel = kernel - np.diag(np.diagonal(kernel))
        observed = _mmd(kernel, len(y))
        state = np.random.RandomState(self.seed)
        hits = 0
        for _ in range(self.permutations):
            index = state.permutation(kernel.shape[0])
            hits += observed <= _mmd(kernel[index][:, index], len(y))
        return hits / self.permutations

    def notes(self, sample: Sample) -> tuple[str, ...]:
        """Mention subsampling when a side exceeded `max_rows`."""
        if max(sample.n_reference, sample.n_current) > self.max_rows:
            return (f"empirical_mmd: each side subsampled to at most {self.max_rows} values",)
        return ()
