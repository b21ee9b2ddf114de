"""PCA reconstruction error, as NannyML's data reconstruction drift.

Fitted on the reference: median imputation (in `encode`), one-hot categories, standard scaling, and a PCA
keeping `variance` (default 65%) of the variance. The score is the mean Euclidean distance between a row and
its reconstruction. The reference is cut into `chunks` consecutive chunks; the bounds are the mean chunk error
+- 3 standard deviations, and the current data drifts when its error falls outside them. A new correlation
pattern leaves the kept components' subspace, so the error rises even when no marginal moved.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from detectors.columns import ColumnType, infer_column_types
from detectors.multivariate.base import Encoded, MultivariateDrift, MultivariateError, encode

DEFAULT_VARIANCE = 0.65
CHUNKS = 10
SIGMAS = 3.0

Matrix = np.ndarray[Any, np.dtype[np.float64]]


def _design(data: Encoded) -> tuple[Matrix, Matrix]:
    """Numeric columns as they are, categorical codes one-hot encoded (missing as its own category)."""
    cat = np.array(data.categorical)
    ref_num, cur_num = data.reference[:, ~cat], data.current[:, ~cat]
    if not cat.any():
        return ref_num, cur_num
    onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    ref_cat = onehot.fit_transform(np.nan_to_num(data.reference[:, cat], nan=-1.0))
    cur_cat = onehot.transform(np.nan_to_num(data.current[:, cat], nan=-1.0))
    return np.hstack((ref_num, ref_cat)), np.hstack((cur_num, cur_cat))


def _errors(pca: PCA, scaled: Matrix) -> Matrix:
    restored = pca.inverse_transform(pca.transform(scaled))
    errors: Matrix = np.sqrt(((scaled - restored) ** 2).sum(axis=1))
    return errors


def pca_reconstruction_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    variance: float = DEFAULT_VARIANCE,
    chunks: int = CHUNKS,
    seed: int = 0,
    column_types: dict[str, ColumnType] | None = None,
) -> MultivariateDrift:
    """Mean PCA reconstruction error of the current data against bounds from reference chunks."""
    if len(reference) < 2 * chunks or len(current) == 0:
        raise MultivariateError(
            f"PCA reconstruction needs at least {2 * chunks} reference rows and current rows"
        )
    data = encode(reference, current, column_types_or_inferred(reference, column_types))
    ref, cur = _design(data)
    scaler = StandardScaler().fit(ref)
    ref_scaled, cur_scaled = scaler.transform(ref), scaler.transform(cur)
    pca = PCA(n_components=variance, svd_solver="full", random_state=seed).fit(ref_scaled)
    chunk_errors = np.array([e.mean() for e in np.array_split(_errors(pca, ref_scaled), chunks)])
    center, spread = float(chunk_errors.mean()), float(chunk_errors.std())
    upper, lower = center + SIGMAS * spread, max(0.0, center - SIGMAS * spread)
    score = float(_errors(pca, cur_scaled).mean())
    return MultivariateDrift(
        "pca_reconstruction",
        score,
        "reconstruction_error",
        upper,
        not lower <= score <= upper,
        data.columns,
        len(reference),
        len(current),
        lower_threshold=lower,
        reference_score=center,
        notes=(f"{pca.n_components_} of {ref.shape[1]} components keep {variance:.0%} of the variance",),
    )


def column_types_or_inferred(
    reference: pd.DataFrame, column_types: dict[str, ColumnType] | None
) -> dict[str, Any]:
    """Inferred column information with the given type overrides."""
    return dict(infer_column_types(reference, column_types))
