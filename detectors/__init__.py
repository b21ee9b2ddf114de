"""driftcar detectors: pure computation from reference and current data to typed results, no I/O.

Kept import-light on purpose: importing `detectors` must not pull in pandas or scipy. The error tree lives in
`detectors.errors`; every computation lives in a submodule (`detectors.columns`, `detectors.drift`,
`detectors.multivariate`, `detectors.fairness`, ...).
"""

from __future__ import annotations

from detectors.errors import DetectorError

__all__ = ["DetectorError"]
