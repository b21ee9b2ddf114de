"""Effect sizes reported next to p-values, so a large-sample artefact can be told from a real shift.

- numeric columns: the reference-std-normed Wasserstein distance (Evidently's `wasserstein` score, whose
  default drift threshold 0.1 reads as "the distributions moved a tenth of a standard deviation");
- `t_test`: Cohen's d (difference of means over the pooled standard deviation), the effect size of that test;
- categorical columns: Cramér's V of the 2 x k contingency table reference/current by category (0 = the same
  proportions, 1 = disjoint categories), which for two categories is the phi coefficient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from detectors.drift.cdf import wasserstein
from detectors.drift.sample import Sample

# Evidently's floor for the norm, so a constant reference does not divide by zero.
MIN_NORM = 0.001


@dataclass(frozen=True, slots=True)
class EffectSize:
    """A named effect size value."""

    name: str
    value: float


def wasserstein_norm(sample: Sample) -> float:
    """Wasserstein distance divided by the reference standard deviation (floored at 0.001), as Evidently."""
    norm = max(float(np.std(sample.reference)), MIN_NORM)
    return wasserstein(sample.sorted_reference, sample.sorted_current) / norm


def cramers_v(sample: Sample) -> float:
    """Cramér's V of the reference/current by category contingency table."""
    cats = sample.categories
    table = np.vstack((cats.reference_counts, cats.current_counts)).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0
    total = table.sum()
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / total
    chi2 = float(((table - expected) ** 2 / expected).sum())
    return min(1.0, math.sqrt(chi2 / total))


def cohens_d(sample: Sample) -> float | None:
    """Cohen's d of current versus reference; None when undefined (fewer than 2 values or zero variance)."""
    n1, n2 = sample.n_reference, sample.n_current
    if n1 + n2 < 3:
        return None
    var1 = float(np.var(sample.reference, ddof=1)) if n1 > 1 else 0.0
    var2 = float(np.var(sample.current, ddof=1)) if n2 > 1 else 0.0
    pooled = math.sqrt(((n1 - 1) * var1 + (n2 - 1) * var2) / (n1 + n2 - 2))
    diff = float(np.mean(sample.current)) - float(np.mean(sample.reference))
    if pooled == 0.0:
        return 0.0 if diff == 0.0 else None
    return diff / pooled


def default_effect_size(sample: Sample) -> EffectSize | None:
    """Normed Wasserstein for numeric samples, Cramér's V for categorical ones; None for empty samples."""
    if sample.n_reference == 0 or sample.n_current == 0:
        return None
    if sample.kind == "numeric":
        return EffectSize("wasserstein_norm", wasserstein_norm(sample))
    return EffectSize("cramers_v", cramers_v(sample))
