"""Domain classifier: can a model tell current rows from reference rows? (cross-validated ROC AUC).

A gradient-boosted tree classifier (scikit-learn `HistGradientBoostingClassifier`, categorical codes as native
categories) is trained to separate reference (0) from current (1) rows; out-of-fold predictions from a
stratified k-fold give the ROC AUC. 0.5 means indistinguishable; drift when AUC > threshold (default 0.55).
Trees see interactions, so a correlation that flips while every marginal is unchanged is caught. Each side is
subsampled (seeded) to `max_rows` so large windows cost the same as moderate ones; the seed makes the result
reproducible. OpenMP threads are capped at `threads` (default 1) while fitting.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from detectors.columns import ColumnType, infer_column_types
from detectors.multivariate.base import MultivariateDrift, MultivariateError, encode

DEFAULT_THRESHOLD = 0.55
MAX_ROWS = 10_000
FOLDS = 5


def _subsample(frame: pd.DataFrame, max_rows: int, rng: np.random.Generator) -> pd.DataFrame:
    if len(frame) <= max_rows:
        return frame
    return frame.iloc[np.sort(rng.choice(len(frame), max_rows, replace=False))]


def domain_classifier_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    max_rows: int = MAX_ROWS,
    seed: int = 0,
    column_types: dict[str, ColumnType] | None = None,
    max_iter: int = 100,
    threads: int = 1,
) -> MultivariateDrift:
    """Cross-validated ROC AUC of a classifier separating current from reference rows."""
    if min(len(reference), len(current)) < FOLDS:
        raise MultivariateError(f"the domain classifier needs at least {FOLDS} rows on each side")
    infos = infer_column_types(reference, column_types)
    rng = np.random.default_rng(seed)
    ref, cur = _subsample(reference, max_rows, rng), _subsample(current, max_rows, rng)
    data = encode(ref, cur, infos)
    features = np.vstack((data.reference, data.current))
    labels = np.concatenate((np.zeros(len(ref), dtype=np.int64), np.ones(len(cur), dtype=np.int64)))
    model = HistGradientBoostingClassifier(
        max_iter=max_iter, categorical_features=np.array(data.categorical), random_state=seed
    )
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    # OpenMP's default (one thread per CPU, spin-waiting) is many times slower on small shared machines.
    with threadpool_limits(limits=threads, user_api="openmp"):
        proba = cross_val_predict(model, features, labels, cv=folds, method="predict_proba")[:, 1]
    auc = float(roc_auc_score(labels, proba))
    notes: tuple[str, ...] = ()
    if len(ref) < len(reference) or len(cur) < len(current):
        notes = (f"subsampled to at most {max_rows} rows per side",)
    return MultivariateDrift(
        "domain_classifier",
        auc,
        "roc_auc",
        threshold,
        auc > threshold,
        data.columns,
        len(reference),
        len(current),
        notes=notes,
    )
