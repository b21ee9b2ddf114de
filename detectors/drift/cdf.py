"""Distances between two empirical CDFs (Wasserstein-1, energy distance) from already sorted samples.

scipy's `_cdf_distance` merges both samples, then binary-searches every merged value in each sample: O(n log
n) with ~10 full-size temporaries. Here the two sorted samples are merged once (numpy's stable argsort finds
the two sorted runs and merges them), and the CDF gaps are integrated block by block, so the extra memory is
about three merged-size arrays. Between two distinct merged values both CDFs are constant, which is exactly
scipy's integral.
"""

from __future__ import annotations

import math

import numpy as np

from detectors.drift.sample import FloatArray

_BLOCK = 1 << 16


def _merged_steps(sorted_u: FloatArray, sorted_v: FloatArray) -> tuple[FloatArray, np.ndarray]:
    """Merged values and, per value, +m if it came from u else -n (a stable merge: u first among ties)."""
    n, m = len(sorted_u), len(sorted_v)
    both = np.concatenate((sorted_u, sorted_v))
    order = np.argsort(both, kind="stable")  # finds the two sorted runs and merges them
    return both[order], np.where(order < n, m, -n)


def cdf_distance(sorted_u: FloatArray, sorted_v: FloatArray, p: int) -> float:
    """The L^p distance (p = 1 or 2) between the empirical CDFs of two sorted, non-empty samples (scipy's).

    After the k-th merged value, n*m*(F_u - F_v) = m*count_u - n*count_v: the running sum of the steps, an exact
    integer, so each gap costs one cumulative sum instead of two divisions.
    """
    n, m = len(sorted_u), len(sorted_v)
    merged, steps = _merged_steps(sorted_u, sorted_v)
    total = 0.0
    running = 0
    last = n + m - 1  # the integral runs over the n + m - 1 gaps between merged values
    for start in range(0, last, _BLOCK):
        stop = min(start + _BLOCK, last)
        scaled_gap = np.cumsum(steps[start:stop])
        scaled_gap += running
        running = int(scaled_gap[-1])
        gap = np.abs(scaled_gap).astype(np.float64)
        deltas = merged[start + 1 : stop + 1] - merged[start:stop]
        total += float(np.dot(gap, deltas) if p == 1 else np.dot(gap * gap, deltas))
    scale = float(n) * float(m)
    return total / scale if p == 1 else math.sqrt(total) / scale


def wasserstein(sorted_u: FloatArray, sorted_v: FloatArray) -> float:
    """First Wasserstein distance, as `scipy.stats.wasserstein_distance`."""
    return cdf_distance(sorted_u, sorted_v, 1)


def energy(sorted_u: FloatArray, sorted_v: FloatArray) -> float:
    """Energy distance, as `scipy.stats.energy_distance`: sqrt(2) times the L2 CDF distance."""
    return math.sqrt(2) * cdf_distance(sorted_u, sorted_v, 2)
