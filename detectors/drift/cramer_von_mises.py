"""`cramer_von_mises`: two-sample Cramér-von Mises test, as Evidently ships it.

Evidently carries its own copy of scipy's `cramervonmises_2samp`: the limiting distribution when either sample
has more than 20 values (scipy computes the same), the exact distribution otherwise. Its exact branch sizes the
frequency table with `np.min_scalar_type(max(int bound, float count))`: when the float wins, counts live in
float16/float32 and the p-value is off by ~1e-8 relative from scipy's integer one; when the int wins (e.g. 2
values against 2), the table is unsigned and Evidently raises a numpy casting error. The same table is built here
with Python-int increments: Evidently's value where it has one, the exact value where it crashes. Needs two
values on each side. Drift when p <= threshold (default 0.1). Effect size: normed Wasserstein.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from scipy.stats import cramervonmises_2samp, rankdata

from detectors.drift.base import Comparison, DriftMethod, InsufficientDataError, ScoreKind, quiet
from detectors.drift.sample import FeatureKind, Sample

EXACT_MAX_ROWS = 20


def _exact_pvalue(s: float, m: int, n: int) -> float:
    """Evidently's `_pval_cvm_2samp_exact` (Xiao, Gordon & Yakovlev 2006), float table dtype included."""
    lcm = int(np.lcm(m, n))
    a, b = lcm // m, lcm // n
    mn = m * n
    zeta = lcm**2 * (m + n) * (6 * s - mn * (4 * mn - 1)) // (6 * mn**2)
    combinations = math.factorial(m + n) / (math.factorial(m) * math.factorial(n))
    dtype = np.min_scalar_type(max(lcm**2 * (m + n), combinations))
    gs = [np.array([[0], [1]], dtype=dtype)] + [np.empty((2, 0), dtype=dtype) for _ in range(m)]
    for u in range(n + 1):
        next_gs = []
        tmp = np.empty((2, 0), dtype=dtype)
        for v, g in enumerate(gs):
            vi, i0, i1 = np.intersect1d(tmp[0], g[0], return_indices=True)
            tmp = np.concatenate(
                [np.stack([vi, tmp[1, i0] + g[1, i1]]), np.delete(tmp, i0, 1), np.delete(g, i1, 1)], 1
            )
            tmp[0] += (a * v - b * u) ** 2
            next_gs.append(tmp)
        gs = next_gs
    value, freq = gs[m]
    return float(np.sum(freq[value >= zeta]) / combinations)


def _statistic_u(x: np.ndarray, y: np.ndarray) -> float:
    """The U statistic of Anderson (1962), eq. 10, with midranks for ties."""
    nx, ny = len(x), len(y)
    r = rankdata(np.concatenate([np.sort(x), np.sort(y)]), method="average")
    return float(
        nx * np.sum((r[:nx] - np.arange(1, nx + 1)) ** 2) + ny * np.sum((r[nx:] - np.arange(1, ny + 1)) ** 2)
    )


class CramerVonMises(DriftMethod):
    """Cramér-von Mises two-sample p-value."""

    name: ClassVar[str] = "cramer_von_mises"
    score_kind: ClassVar[ScoreKind] = "p_value"
    feature_kinds: ClassVar[frozenset[FeatureKind]] = frozenset({"numeric"})
    default_threshold: ClassVar[float] = 0.1
    drifted_when: ClassVar[Comparison] = "<="

    def score(self, sample: Sample) -> float:
        """The Cramér-von Mises p-value (exact for small samples, as Evidently computes it)."""
        if min(sample.n_reference, sample.n_current) < 2:
            raise InsufficientDataError("cramer_von_mises needs at least two values on each side")
        if max(sample.n_reference, sample.n_current) <= EXACT_MAX_ROWS:
            u = _statistic_u(sample.reference, sample.current)
            return _exact_pvalue(u, sample.n_reference, sample.n_current)
        with quiet():
            return float(cramervonmises_2samp(sample.reference, sample.current, method="asymptotic").pvalue)
