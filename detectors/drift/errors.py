"""The drift branch of the detector error tree: configuration errors raise, data problems become skipped columns.

Each drift error also derives from the shared `detectors.errors` class for its kind (options, columns, data), and
from the builtin a caller would naturally catch (KeyError for names, ValueError for values).
"""

from __future__ import annotations

from detectors import errors


class DriftError(errors.DetectorError):
    """Base of the drift errors."""


class UnknownMethodError(DriftError, errors.OptionsError, KeyError):
    """No drift method is registered under the requested name."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown drift method"


class MethodNotApplicableError(DriftError, errors.OptionsError, ValueError):
    """The requested method does not accept the column's type (e.g. `ks` on a categorical column)."""


class MissingColumnError(DriftError, errors.ColumnError, KeyError):
    """A requested column is absent from the reference or the current data."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "missing column"


class DuplicateColumnError(DriftError, errors.ColumnError, ValueError):
    """A frame has two columns with the same name, so a column cannot be told from the other."""


class InsufficientDataError(DriftError, errors.InsufficientDataError, ValueError):
    """The samples are too small or too degenerate for this method (reported as a skipped column)."""
