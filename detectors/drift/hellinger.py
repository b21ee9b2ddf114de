"""`hellinger`: Hellinger distance, with Evidently's own binning for numeric columns.

Categorical: sqrt(1 - sum(sqrt(p_ref * p_cur))) over category shares. Numeric: Sturges bin edges computed over
the *distinct* values of both samples (not over the values themselves, unlike `jensenshannon`), density
histograms of each sample, and the Bhattacharyya coefficient sum(sqrt(d_ref * d_cur)) * bin_width clipped to
[0, 1]. Drift when the distance >= threshold (default 0.1).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from detectors.drift.base import Comparison, DriftMethod, ScoreKind
from detectors.drift.binning import histogram_counts, sturges_edges
from detectors.drift.sample import FeatureKind, FloatArray, Sample


def _density(sorted_values: FloatArray, edges: FloatArray) -> FloatArray:
    """`np.histogram(values, edges, density=True)[0]` for sorted values."""
    counts = histogram_counts(sorted_values, edges)
    density: FloatArray = counts / np.diff(edges) / counts.sum()
    return density


class Hellinger(DriftMethod):
    """Hellinger distance between the two distributions."""

    name: ClassVar[str] = "hellinger"
    score_kind: ClassVar[ScoreKind] = "distance"
    feature_kinds: ClassVar[frozenset[FeatureKind]] = frozenset({"numeric", "categorical"})
    default_threshold: ClassVar[float] = 0.1
    drifted_when: ClassVar[Comparison] = ">="

    def score(self, sample: Sample) -> float:
        """The Hellinger distance in [0, 1]."""
        if sample.kind == "categorical":
            cats = sample.categories
            p_ref = cats.reference_counts / sample.n_reference
            p_cur = cats.current_counts / sample.n_current
            coefficient = float(np.sum(np.sqrt(p_ref * p_cur)))
        else:
            distinct = np.union1d(sample.sorted_reference, sample.sorted_current)
            edges = sturges_edges(distinct)
            d_ref = _density(sample.sorted_reference, edges)
            d_cur = _density(sample.sorted_current, edges)
            width = (edges.max() - edges.min()) / (len(edges) - 1)
            coefficient = float(np.sum(np.sqrt(d_ref * d_cur) * width))
        return math.sqrt(1 - float(np.clip(coefficient, 0, 1)))
