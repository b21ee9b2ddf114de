"""Model performance when labels exist: classification and regression metrics, None when undefined."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, precision_recall_fscore_support, roc_auc_score

from detectors.errors import ColumnError, InsufficientDataError
from detectors.fairness.encode import canonical, float_array
from detectors.performance_options import Average as Average
from detectors.performance_options import ClassificationOptions as ClassificationOptions

Values: TypeAlias = pd.Series | np.ndarray
_PROBABILITY_TOLERANCE = 1e-6


@dataclass(frozen=True, slots=True)
class ClassificationPerformance:
    """Classification metrics; for binary data precision/recall/F1 are those of the positive class."""

    n_rows: int
    n_dropped: int
    classes: tuple[str, ...]
    positive: str | None
    average: Average | None
    accuracy: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    roc_auc: float | None
    log_loss: float | None
    undefined: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RegressionPerformance:
    """Regression metrics; MAPE is a fraction (0.1 means 10 %)."""

    n_rows: int
    n_dropped: int
    mae: float | None
    rmse: float | None
    mape: float | None
    r2: float | None
    undefined: dict[str, str] = field(default_factory=dict)


def _keys(values: Values) -> np.ndarray:
    """Labels as canonical strings so that 1, 1.0, "1" and True are one class."""
    series = pd.Series(values)
    codes, uniques = pd.factorize(series)
    keys = np.array([canonical(u) for u in uniques] + [""], dtype=object)
    return np.asarray(keys[codes], dtype=object)


def _scores(scores: Values | pd.DataFrame | None, n: int) -> tuple[np.ndarray | None, tuple[str, ...] | None]:
    """Scores as float64 (n,) or (n, k), and the class of each column when a DataFrame names them."""
    if scores is None:
        return None, None
    names = tuple(canonical(c) for c in scores.columns) if isinstance(scores, pd.DataFrame) else None
    array = np.asarray(scores, dtype=np.float64)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.shape[0] != n or array.ndim > 2:
        raise ColumnError(f"scores have shape {array.shape}; expected ({n},) or ({n}, n_classes)")
    return array, names


def _averaged(per_class: np.ndarray, support: np.ndarray, average: Average) -> float | None:
    """Average per-class values over the classes where they are defined."""
    defined = ~np.isnan(per_class)
    if not defined.any():
        return None
    if average == "weighted":
        weights = support[defined]
        return None if weights.sum() == 0 else float(np.dot(per_class[defined], weights) / weights.sum())
    return float(per_class[defined].mean())


def _is_probability(scores: np.ndarray) -> bool:
    """Scores in [0, 1] whose rows (multiclass) sum to 1."""
    if scores.min() < 0 or scores.max() > 1:
        return False
    return scores.ndim == 1 or bool(np.allclose(scores.sum(axis=1), 1.0, atol=_PROBABILITY_TOLERANCE))


def _score_metrics(
    truth: np.ndarray, scores: np.ndarray, classes: tuple[str, ...], positive: str | None, average: Average
) -> tuple[dict[str, float | None], dict[str, str]]:
    """ROC AUC and log loss (binary: the positive class's score per row; multiclass: a column per class)."""
    undefined: dict[str, str] = {}
    out: dict[str, float | None] = {"roc_auc": None, "log_loss": None}
    binary = positive is not None
    if binary != (scores.ndim == 1):
        reason = (
            "binary data needs one score per row" if binary else "multiclass data needs one column per class"
        )
        return out, {"roc_auc": reason, "log_loss": reason}
    target = truth == positive if binary else truth
    labels = None if binary else list(classes)
    if len(np.unique(truth)) < 2:
        undefined["roc_auc"] = "only one class is present in the labels"
    elif not binary and average == "micro":
        undefined["roc_auc"] = "ROC AUC has no micro average for multiclass data"
    elif not binary and not _is_probability(scores):
        undefined["roc_auc"] = "multiclass ROC AUC needs probabilities that sum to 1 per row"
    else:
        try:
            out["roc_auc"] = float(
                roc_auc_score(target, scores, multi_class="ovr", average=average, labels=labels)
            )
        except ValueError as exc:
            undefined["roc_auc"] = str(exc)
    if _is_probability(scores):
        out["log_loss"] = float(log_loss(target, scores, labels=[False, True] if binary else labels))
    else:
        undefined["log_loss"] = "scores are not probabilities"
    return out, undefined


def classification_performance(
    y_true: Values,
    y_pred: Values,
    scores: Values | pd.DataFrame | None = None,
    options: ClassificationOptions | None = None,
) -> ClassificationPerformance:
    """Accuracy, precision, recall, F1, and ROC AUC / log loss when scores are given (multiclass score columns
    follow the sorted class labels unless a DataFrame names them)."""
    opts = options or ClassificationOptions()
    if len(y_true) != len(y_pred):
        raise ColumnError(f"{len(y_true)} labels but {len(y_pred)} predictions")
    if len(y_true) == 0:
        raise InsufficientDataError("no rows")
    score_array, score_names = _scores(scores, len(y_true))
    keep = pd.Series(y_true).notna().to_numpy() & pd.Series(y_pred).notna().to_numpy()
    if score_array is not None:
        keep &= ~np.isnan(score_array).reshape(len(keep), -1).any(axis=1)
    if not keep.any():
        raise InsufficientDataError("no row has both a label and a prediction")
    truth, pred = _keys(y_true)[keep], _keys(y_pred)[keep]
    classes = tuple(sorted(set(truth) | set(pred)))
    positive = None if opts.positive is None else canonical(opts.positive)
    if positive is None and set(classes) <= {"0", "1"}:
        positive = "1"
    undefined: dict[str, str] = {}
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, pred, labels=list(classes), average=None, zero_division=np.nan
    )
    if positive is not None:
        i = classes.index(positive) if positive in classes else None
        values = [None if i is None or math.isnan(v[i]) else float(v[i]) for v in (precision, recall, f1)]
        reasons = ("no positive predictions", "no positive labels", "no positive labels or predictions")
    else:
        average = opts.average
        if average == "micro":
            micro = precision_recall_fscore_support(truth, pred, labels=list(classes), average="micro")
            values = [float(v) for v in micro[:3]]
        else:
            values = [_averaged(v, support, average) for v in (precision, recall, f1)]
        reasons = ("undefined for every class",) * 3
    for name, value, reason in zip(("precision", "recall", "f1"), values, reasons, strict=True):
        if value is None:
            undefined[name] = reason
    scored: dict[str, float | None] = {"roc_auc": None, "log_loss": None}
    if score_array is None:
        undefined |= {"roc_auc": "no scores given", "log_loss": "no scores given"}
    else:
        score_classes = score_names or classes
        scored, score_undefined = _score_metrics(
            truth, score_array[keep], score_classes, positive, opts.average
        )
        undefined |= score_undefined
    return ClassificationPerformance(
        n_rows=int(keep.sum()),
        n_dropped=int((~keep).sum()),
        classes=classes,
        positive=positive,
        average=None if positive is not None else opts.average,
        accuracy=float(np.mean(truth == pred)),
        precision=values[0],
        recall=values[1],
        f1=values[2],
        roc_auc=scored["roc_auc"],
        log_loss=scored["log_loss"],
        undefined=undefined,
    )


def _numbers(values: Values, what: str) -> np.ndarray:
    """Values as float64; a present value that is not a number is a ColumnError."""
    series = pd.Series(values)
    numbers = float_array(series)
    bad = np.isnan(numbers) & series.notna().to_numpy()
    if bad.any():
        raise ColumnError(f"{what} must be numbers; found {series[bad].iloc[0]!r}")
    return numbers


def regression_performance(y_true: Values, y_pred: Values) -> RegressionPerformance:
    """MAE, RMSE, MAPE and R² over the rows with both a label and a prediction."""
    if len(y_true) != len(y_pred):
        raise ColumnError(f"{len(y_true)} labels but {len(y_pred)} predictions")
    truth, pred = _numbers(y_true, "labels"), _numbers(y_pred, "predictions")
    keep = np.isfinite(truth) & np.isfinite(pred)
    if not keep.any():
        raise InsufficientDataError("no row has both a finite label and a finite prediction")
    truth, pred = truth[keep], pred[keep]
    undefined: dict[str, str] = {}
    # Huge but finite inputs overflow; such a metric is reported as undefined rather than inf.
    with np.errstate(over="ignore", invalid="ignore"):
        error = pred - truth
        values = {
            "mae": float(np.mean(np.abs(error))),
            "rmse": math.sqrt(float(np.mean(error**2))),
            "mape": None,
            "r2": None,
        }
        if (truth == 0).any():
            undefined["mape"] = "some labels are 0"
        else:
            values["mape"] = float(np.mean(np.abs(error) / np.abs(truth)))
        total = float(np.sum((truth - truth.mean()) ** 2))
        if truth.size < 2 or total == 0:
            undefined["r2"] = "fewer than two rows" if truth.size < 2 else "labels are constant"
        else:
            values["r2"] = 1 - float(np.sum(error**2)) / total
    for name, value in values.items():
        if value is not None and not math.isfinite(value):
            values[name], undefined[name] = None, "the values overflow float64"
    return RegressionPerformance(
        n_rows=int(truth.size),
        n_dropped=int((~keep).sum()),
        mae=values["mae"],
        rmse=values["rmse"],
        mape=values["mape"],
        r2=values["r2"],
        undefined=undefined,
    )
