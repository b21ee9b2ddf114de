"""Options for the performance metrics, embeddable in a monitor's YAML configuration.

Kept apart from their computation (`detectors.performance`: numpy, pandas, scikit-learn) so that validating a
configuration imports none of them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from detectors.fairness.options import Favorable

Average = Literal["macro", "weighted", "micro"]


class ClassificationOptions(BaseModel):
    """How to read labels: which class is positive (binary) and how to average over classes (multiclass)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    positive: Favorable | None = None
    """The positive class; None means binary when the classes are 0/1 (or False/True), else multiclass."""

    average: Average = "macro"
    """Multiclass average: macro (plain mean over the classes where the metric is defined), weighted (by
    support) or micro (pooled counts, equal to accuracy for single-label data); ROC AUC has no micro."""
