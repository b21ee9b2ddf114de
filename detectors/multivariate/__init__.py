"""Multivariate drift: a domain classifier (cross-validated ROC AUC) and PCA reconstruction error
(NannyML-style)."""

from __future__ import annotations

from detectors.multivariate.base import MultivariateDrift, MultivariateError
from detectors.multivariate.classifier import domain_classifier_drift
from detectors.multivariate.pca import pca_reconstruction_drift

__all__ = ["MultivariateDrift", "MultivariateError", "domain_classifier_drift", "pca_reconstruction_drift"]
