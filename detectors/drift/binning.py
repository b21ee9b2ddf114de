"""Evidently's binning for the histogram distances (`jensenshannon`, `psi`, `kl_div`), reproduced exactly.

Evidently's `get_binned_data`: a numeric column whose reference has more than 20 distinct values is cut into
Sturges bins over the combined range (`np.histogram_bin_edges(reference + current, "sturges")`); anything else
is compared category by category. Shares are counts over the sample size; with `fill_zeroes`, empty buckets
get min(non-zero share) / 1e6 when that minimum is <= 1e-4, else 1e-4, so logarithms stay finite. Counts come
from `searchsorted` on the sorted samples with numpy's own edge rule (left-closed bins, the last one closed),
which equals `np.histogram(values, edges)` without its block-wise re-sorting.
"""

from __future__ import annotations

import numpy as np

from detectors.drift.errors import InsufficientDataError
from detectors.drift.sample import FloatArray, IntArray, Sample

# Evidently bins a numeric column only when its reference has more distinct values than this.
MIN_DISTINCT_FOR_HISTOGRAM = 20


def sturges_edges(values: FloatArray) -> FloatArray:
    """`np.histogram_bin_edges(values, "sturges")`; values too close for float bins are unusable data."""
    try:
        edges: FloatArray = np.histogram_bin_edges(values, bins="sturges")
    except ValueError as exc:  # "Too many bins for data range" at extreme magnitudes
        raise InsufficientDataError(f"cannot bin these values: {exc}") from None
    return edges


def histogram_counts(sorted_values: FloatArray, edges: FloatArray) -> IntArray:
    """Counts per bin exactly as `np.histogram(values, bins=edges)` for sorted values."""
    cumulative = np.concatenate(
        (
            np.searchsorted(sorted_values, edges[:-1], side="left"),
            np.searchsorted(sorted_values, edges[-1:], "right"),
        )
    )
    return np.diff(cumulative).astype(np.int64)


def _fill_zeroes(shares: FloatArray) -> None:
    nonzero_min = float(shares[shares != 0].min())
    np.place(shares, shares == 0, nonzero_min / 10**6 if nonzero_min <= 0.0001 else 0.0001)


def binned_shares(sample: Sample, fill_zeroes: bool) -> tuple[FloatArray, FloatArray]:
    """Reference and current shares per bucket (bins or categories), as Evidently's `get_binned_data`."""
    if sample.kind == "numeric" and sample.reference_nunique > MIN_DISTINCT_FOR_HISTOGRAM:
        combined = np.concatenate((sample.reference, sample.current))
        edges = sturges_edges(combined)
        ref_counts = histogram_counts(sample.sorted_reference, edges)
        cur_counts = histogram_counts(sample.sorted_current, edges)
    else:
        cats = sample.categories
        ref_counts, cur_counts = cats.reference_counts, cats.current_counts
    ref = ref_counts / sample.n_reference
    cur = cur_counts / sample.n_current
    if fill_zeroes:
        _fill_zeroes(ref)
        _fill_zeroes(cur)
    return ref, cur
