"""The sorted-merge CDF distances equal scipy's, ties and single values included."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import energy_distance, wasserstein_distance

from detectors.drift import cdf

values = st.lists(
    st.one_of(st.integers(-5, 5).map(float), st.floats(-1e6, 1e6, allow_nan=False)), min_size=1, max_size=60
)


@settings(max_examples=200, deadline=None)
@given(values, values)
def test_distances_match_scipy(u: list[float], v: list[float]) -> None:
    """Wasserstein and energy distance agree with scipy to 1e-9 relative."""
    a, b = np.array(u), np.array(v)
    su, sv = np.sort(a), np.sort(b)
    assert cdf.wasserstein(su, sv) == pytest.approx(wasserstein_distance(a, b), rel=1e-9, abs=1e-9)
    assert cdf.energy(su, sv) == pytest.approx(energy_distance(a, b), rel=1e-9, abs=1e-9)


def test_blocks_do_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """Integrating in many small blocks gives the one-block answer."""
    rng = np.random.default_rng(1)
    su, sv = np.sort(rng.normal(size=5000)), np.sort(rng.normal(0.1, size=3000))
    whole = cdf.wasserstein(su, sv)
    monkeypatch.setattr(cdf, "_BLOCK", 97)
    assert cdf.wasserstein(su, sv) == pytest.approx(whole, rel=1e-12)
    assert whole == pytest.approx(wasserstein_distance(su, sv), rel=1e-12)
