"""match_path: the path capture routes are matched on, as an upstream may resolve the request's target."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar.capture.paths import match_path
from sidecar.settings import Settings


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("/predict", "/predict"),
        ("/", "/"),
        ("/v1/models/m:predict", "/v1/models/m:predict"),
        ("/x/../predict", "/predict"),
        ("/../../predict", "/predict"),
        ("/%70redict", "/predict"),
        ("/a/%2e%2e/predict", "/predict"),
        ("/a%2F..%2Fpredict", "/predict"),
        ("/v1/models/a%2Fb:predict", "/v1/models/a/b:predict"),
        ("//predict", "/predict"),
        ("/./predict/.", "/predict"),
        ("/predict/", "/predict"),
        ("/caf%C3%A9", "/café"),
        ("/bad%ff", "/bad\udcff"),
    ],
)
def test_paths_are_canonicalised_for_matching(raw: str, canonical: str) -> None:
    assert match_path(raw) == canonical


@given(st.text(alphabet="/.%2eEfF0a", max_size=40).map(lambda s: "/" + s))
def test_the_canonical_path_is_a_fixed_point_without_dot_segments(raw: str) -> None:
    once = match_path(raw)
    assert once.startswith("/")
    segments = once.split("/")[1:]
    assert "." not in segments and ".." not in segments
    assert "//" not in once and (once == "/" or not once.endswith("/"))
    if "%" not in once:
        assert match_path(once) == once


@pytest.mark.parametrize(
    ("request_path", "globs", "matched"),
    [
        ("/predict", ["/predict"], "/predict"),
        ("/%70redict", ["/predict"], "/predict"),
        ("/x/../predict", ["/predict"], "/predict"),
        ("/predict/", ["/predict"], "/predict"),
        ("/predict/", ["/predict/", "/predict"], "/predict/"),  # a glob with its trailing slash: the raw path
        ("/v1/models/%6d:predict", ["/v1/models/*"], "/v1/models/*"),
        ("/other", ["/predict", "/v1/models/*"], None),
    ],
)
def test_routes_match_the_raw_or_the_canonical_path(request_path: str, globs: list[str], matched: str | None) -> None:
    settings = Settings.model_validate({"upstream": "http://127.0.0.1:9", "routes": [{"path": g} for g in globs]})
    found = settings.route_for("POST", request_path)
    assert (found.path if found else None) == matched
