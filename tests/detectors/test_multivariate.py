"""Multivariate drift catches a correlation flip no single column shows, and stays quiet without drift."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from detectors.drift import detect_drift
from detectors.multivariate import (
    MultivariateDrift,
    MultivariateError,
    domain_classifier_drift,
    pca_reconstruction_drift,
)

Detector = Callable[..., MultivariateDrift]
DETECTORS = [domain_classifier_drift, pca_reconstruction_drift]


def _correlated(n: int, rho: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = rho * x + np.sqrt(1 - rho**2) * rng.normal(size=n)
    return pd.DataFrame(
        {"x": x, "y": y, "noise": rng.normal(size=n), "segment": rng.choice(["a", "b", "c"], n)}
    )


REFERENCE = _correlated(1500, 0.8, 1)
FLIPPED = _correlated(1500, -0.8, 2)
UNCHANGED = _correlated(1500, 0.8, 3)


def test_no_single_column_drifts_after_the_flip() -> None:
    """The marginals are unchanged: univariate drift sees nothing."""
    assert detect_drift(REFERENCE, FLIPPED).number_of_drifted_columns == 0


@pytest.mark.parametrize("detector", DETECTORS)
def test_correlation_flip_is_detected(detector: Detector) -> None:
    """Both methods flag the flipped correlation."""
    result = detector(REFERENCE, FLIPPED)
    assert result.drifted, result
    assert result.columns == ("x", "y", "noise", "segment")


@pytest.mark.parametrize("detector", DETECTORS)
def test_same_distribution_is_not_flagged(detector: Detector) -> None:
    """A fresh sample from the reference distribution is not drift."""
    assert not detector(REFERENCE, UNCHANGED).drifted


def test_domain_classifier_is_reproducible_and_subsamples() -> None:
    """The same seed gives the same AUC; large sides are subsampled and say so."""
    first = domain_classifier_drift(REFERENCE, FLIPPED, seed=7, max_rows=500)
    again = domain_classifier_drift(REFERENCE, FLIPPED, seed=7, max_rows=500)
    assert first == again
    assert first.score > 0.7
    assert first.notes == ("subsampled to at most 500 rows per side",)
    assert (first.n_reference, first.n_current) == (1500, 1500)


def test_pca_bounds_bracket_the_reference() -> None:
    """The reference error lies inside the bounds, the flipped error above the upper one."""
    result = pca_reconstruction_drift(REFERENCE, FLIPPED)
    assert result.lower_threshold is not None
    assert result.reference_score is not None
    assert result.lower_threshold <= result.reference_score <= result.threshold < result.score


@pytest.mark.parametrize("detector", DETECTORS)
def test_unusable_frames_raise_a_typed_error(detector: Detector) -> None:
    """No comparable column, or too few rows, is a MultivariateError."""
    ids = pd.DataFrame({"id": [f"row-{i}" for i in range(100)]})
    with pytest.raises(MultivariateError):
        detector(ids, ids)
    with pytest.raises(MultivariateError):
        detector(REFERENCE.head(3), FLIPPED.head(3))


@pytest.mark.parametrize("detector", DETECTORS)
def test_missing_values_new_categories_and_constants(detector: Detector) -> None:
    """NaN, inf, unseen categories and a constant column are handled, not fatal."""
    ref = REFERENCE.assign(const=1.0)
    cur = FLIPPED.assign(const=1.0)
    ref.loc[::7, "x"] = np.nan
    cur.loc[::5, "y"] = np.inf
    cur.loc[::3, "segment"] = "brand-new"
    cur.loc[::11, "segment"] = None
    result = detector(ref, cur)
    assert np.isfinite(result.score)
    assert "const" in result.columns
