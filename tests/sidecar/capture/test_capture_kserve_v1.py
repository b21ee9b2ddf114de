"""KServe V1: TF Serving's predict on the wire; `auto` labels it tfserving, `kserve_v1` on request."""

from __future__ import annotations

import pytest

from sidecar.capture.kserve_v1 import KServeV1Adapter
from sidecar.capture.options import CaptureOptions
from sidecar.capture.registry import select_adapter, to_records
from tests.fixtures.protocols import CASES, ProtocolCase, assert_records_match, case, make_exchange

KSERVE_V1 = [c for c in CASES if c.server == "kserve" and c.path.startswith("/v1/")]


@pytest.mark.parametrize("item", KSERVE_V1, ids=lambda c: c.name)
def test_fixture_cases(item: ProtocolCase) -> None:
    assert_records_match(to_records(item.exchange(), item.capture_options()), item)


def test_auto_reads_the_shared_path_as_tfserving() -> None:
    exchange = case("kserve_v1_predict").exchange()
    assert select_adapter(exchange, CaptureOptions()).name == "tfserving"
    assert select_adapter(exchange, CaptureOptions(adapter="kserve_v1")).name == "kserve_v1"


@pytest.mark.parametrize(
    ("path", "model"),
    [
        ("/v1/models/iris:predict", "iris"),
        ("/v1/models/iris/versions/1:predict", None),
        ("/v1/models/iris:explain", None),
    ],
)
def test_route(path: str, model: str | None) -> None:
    route = KServeV1Adapter().route(path)
    assert (route.model if route else None) == model
    if route is not None:
        assert route.template == "/v1/models/{model}:predict"


def test_same_records_as_tfserving_but_the_label() -> None:
    exchange = make_exchange(
        "/v1/models/iris:predict",
        b'{"instances": [{"a": 1, "b": 2}]}',
        b'{"predictions": [[0.1, 0.9]]}',
    )
    tf = to_records(exchange)
    kserve = to_records(exchange, CaptureOptions(adapter="kserve_v1"))
    assert [(r.features, r.prediction, r.route, r.model) for r in tf] == [
        (r.features, r.prediction, r.route, r.model) for r in kserve
    ]
    assert (tf[0].protocol, kserve[0].protocol) == ("tfserving", "kserve_v1")


def test_explicit_kserve_v1_on_another_path_uses_the_literal_path() -> None:
    exchange = make_exchange("/custom/predict", b'{"instances": [[1, 2]]}', b'{"predictions": [0]}')
    records = to_records(exchange, CaptureOptions(adapter="kserve_v1"))
    assert [(r.route, r.features, r.prediction, r.error) for r in records] == [
        ("/custom/predict", {"f0": 1, "f1": 2}, 0, None)
    ]
