"""CaptureOptions: validation at configuration time, field docs."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from sidecar.capture.options import CaptureOptions


def test_defaults() -> None:
    options = CaptureOptions()
    assert (options.adapter, options.inputs, options.outputs, options.feature_names, options.model) == (
        "auto",
        None,
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"adapter": "triton"}, "Input should be 'auto', 'generic', 'tfserving'"),
        ({"inputs": "a..b"}, "JSON path 'a..b': unexpected '.' at position 2"),
        ({"outputs": ""}, "empty JSON path"),
        ({"feature_names": ["a", "a"]}, "feature_names must be unique"),
        ({"feature_names": ["a", ""]}, "feature_names must not contain empty names"),
        ({"features": ["a"]}, "Extra inputs are not permitted"),
    ],
)
def test_invalid(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(".", r"\.")):
        CaptureOptions.model_validate(values)


def test_frozen() -> None:
    options = CaptureOptions(model="m")
    with pytest.raises(ValidationError):
        options.model = "other"


def test_every_field_is_documented() -> None:
    for name, info in CaptureOptions.model_fields.items():
        assert info.description, name
