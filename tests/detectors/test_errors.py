"""The detector exception tree: every error a detector raises is a DetectorError."""

from __future__ import annotations

import pytest

from detectors.errors import ColumnError, DetectorError, InsufficientDataError, OptionsError


@pytest.mark.parametrize("error", [InsufficientDataError, ColumnError, OptionsError])
def test_every_detector_error_derives_from_the_base(error: type[DetectorError]) -> None:
    assert issubclass(error, DetectorError)
    with pytest.raises(DetectorError, match="boom"):
        raise error("boom")


def test_the_base_is_an_ordinary_exception_not_a_value_error() -> None:
    assert issubclass(DetectorError, Exception)
    assert not issubclass(DetectorError, ValueError)
