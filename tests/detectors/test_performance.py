"""Performance metrics checked against scikit-learn; undefined metrics are None with a reason."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from detectors.errors import ColumnError, InsufficientDataError
from detectors.performance import (
    Average,
    ClassificationOptions,
    classification_performance,
    regression_performance,
)


def _binary(seed: int, n: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n)
    proba = np.clip(0.3 * truth + rng.random(n) * 0.7, 0, 1)
    return truth, (proba > 0.5).astype(int), proba


def _multiclass(seed: int, n: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n)
    logits = rng.normal(size=(n, 3)) + 1.5 * np.eye(3)[truth]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return truth, proba.argmax(axis=1), proba


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(
    ("labels", "positive", "key"),
    [(None, None, "1"), (("no", "yes"), "yes", "yes"), ((False, True), True, "1")],
)
def test_binary_metrics_match_sklearn(
    seed: int, labels: tuple[object, object] | None, positive: object, key: str
) -> None:
    truth, pred, proba = _binary(seed)
    y_true, y_pred = (truth, pred) if labels is None else (np.array(labels)[truth], np.array(labels)[pred])
    options = ClassificationOptions.model_validate({"positive": positive})
    result = classification_performance(y_true, y_pred, proba, options)
    assert (result.positive, result.average) == (key, None)
    expected = {
        "accuracy": skm.accuracy_score(truth, pred),
        "precision": skm.precision_score(truth, pred),
        "recall": skm.recall_score(truth, pred),
        "f1": skm.f1_score(truth, pred),
        "roc_auc": skm.roc_auc_score(truth, proba),
        "log_loss": skm.log_loss(truth, proba),
    }
    for name, value in expected.items():
        assert getattr(result, name) == pytest.approx(value, rel=1e-9), name


@pytest.mark.parametrize("seed", [2, 3])
@pytest.mark.parametrize("average", ["macro", "weighted", "micro"])
def test_multiclass_metrics_match_sklearn(seed: int, average: Average) -> None:
    truth, pred, proba = _multiclass(seed)
    names = np.array(["cat", "dog", "eel"])
    scores = pd.DataFrame(proba, columns=names)
    result = classification_performance(
        names[truth], names[pred], scores, ClassificationOptions(average=average)
    )
    assert result.classes == ("cat", "dog", "eel")
    assert result.accuracy == pytest.approx(skm.accuracy_score(truth, pred), rel=1e-9)
    assert result.precision == pytest.approx(skm.precision_score(truth, pred, average=average), rel=1e-9)
    assert result.recall == pytest.approx(skm.recall_score(truth, pred, average=average), rel=1e-9)
    assert result.f1 == pytest.approx(skm.f1_score(truth, pred, average=average), rel=1e-9)
    assert result.log_loss == pytest.approx(skm.log_loss(truth, proba), rel=1e-9)
    if average == "micro":
        assert result.roc_auc is None
        assert result.undefined["roc_auc"] == "ROC AUC has no micro average for multiclass data"
    else:
        expected = skm.roc_auc_score(truth, proba, multi_class="ovr", average=average)
        assert result.roc_auc == pytest.approx(expected, rel=1e-9)


def test_multiclass_score_columns_default_to_the_sorted_classes() -> None:
    truth, pred, proba = _multiclass(4)
    result = classification_performance(truth, pred, proba)
    assert result.roc_auc == pytest.approx(skm.roc_auc_score(truth, proba, multi_class="ovr"), rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_regression_metrics_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = rng.normal(50, 10, 1000)
    pred = truth + rng.normal(0, 5, 1000)
    result = regression_performance(truth, pred)
    assert result.mae == pytest.approx(skm.mean_absolute_error(truth, pred), rel=1e-9)
    assert result.rmse == pytest.approx(skm.root_mean_squared_error(truth, pred), rel=1e-9)
    assert result.mape == pytest.approx(skm.mean_absolute_percentage_error(truth, pred), rel=1e-9)
    assert result.r2 == pytest.approx(skm.r2_score(truth, pred), rel=1e-9)


@pytest.mark.parametrize(
    ("y_true", "y_pred", "scores", "field", "reason"),
    [
        ([1, 1, 1], [1, 0, 1], [0.9, 0.2, 0.8], "roc_auc", "only one class is present in the labels"),
        ([1, 0, 1], [0, 0, 0], None, "precision", "no positive predictions"),
        ([0, 0, 0], [0, 0, 1], None, "recall", "no positive labels"),
        ([1, 0, 1], [1, 0, 0], [3.0, -1.0, 0.5], "log_loss", "scores are not probabilities"),
        ([1, 0, 1], [1, 0, 0], None, "roc_auc", "no scores given"),
        (
            ["a", "b", "c"],
            ["a", "b", "c"],
            [0.1, 0.5, 0.9],
            "roc_auc",
            "multiclass data needs one column per class",
        ),
    ],
)
def test_undefined_classification_metrics_are_none_with_a_reason(
    y_true: list[object], y_pred: list[object], scores: list[float] | None, field: str, reason: str
) -> None:
    result = classification_performance(
        np.array(y_true), np.array(y_pred), None if scores is None else np.array(scores)
    )
    assert getattr(result, field) is None
    assert result.undefined[field] == reason


@pytest.mark.parametrize(
    ("y_true", "y_pred", "field", "reason"),
    [
        ([0.0, 1.0, 2.0], [0.5, 1.0, 2.0], "mape", "some labels are 0"),
        ([3.0, 3.0, 3.0], [1.0, 2.0, 3.0], "r2", "labels are constant"),
        ([3.0], [1.0], "r2", "fewer than two rows"),
    ],
)
def test_undefined_regression_metrics_are_none_with_a_reason(
    y_true: list[float], y_pred: list[float], field: str, reason: str
) -> None:
    result = regression_performance(np.array(y_true), np.array(y_pred))
    assert getattr(result, field) is None
    assert result.undefined[field] == reason


def test_rows_with_a_missing_label_prediction_or_score_are_dropped() -> None:
    result = classification_performance(
        pd.Series([1, 0, None, 1, 0]), pd.Series([1, 0, 1, None, 1]), np.array([0.9, 0.1, 0.5, 0.5, np.nan])
    )
    assert (result.n_rows, result.n_dropped, result.accuracy) == (2, 3, 1.0)


def test_mixed_label_representations_are_one_class() -> None:
    result = classification_performance(pd.Series([1, "0", True, 0.0]), pd.Series(["1", 0, 1.0, False]))
    assert (result.classes, result.accuracy) == (("0", "1"), 1.0)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: classification_performance(np.array([1, 0]), np.array([1])), ColumnError),
        (lambda: classification_performance(np.array([None]), np.array([1])), InsufficientDataError),
        (
            lambda: classification_performance(np.array([1, 0]), np.array([1, 0]), np.zeros((3, 2))),
            ColumnError,
        ),
        (lambda: regression_performance(pd.Series(["1", "x"]), pd.Series([1.0, 2.0])), ColumnError),
        (lambda: regression_performance(np.array([np.nan]), np.array([1.0])), InsufficientDataError),
    ],
)
def test_unusable_input_raises_a_detector_error(call: Callable[[], object], error: type[Exception]) -> None:
    with pytest.raises(error):
        call()
