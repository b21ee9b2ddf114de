"""driftcar detectors: pure computation from reference and current data to typed results, no I/O.

Kept import-light on purpose: importing `detectors` must not pull in pandas or scipy, so the error base lives here
and every computation lives in a submodule (`detectors.columns`, `detectors.drift`, `detectors.multivariate`, ...).
"""

from __future__ import annotations


class DetectorError(Exception):
    """Base of every error raised by the detectors packages (bad configuration or unusable input)."""


__all__ = ["DetectorError"]
