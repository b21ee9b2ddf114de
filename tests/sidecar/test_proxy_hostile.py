"""Hostile exchanges (tests/sidecar/capture/hostile.py) through the real proxy: the client gets exactly the
upstream's status and bytes, capture never fails (`driftcar_capture_failures_total` stays 0, nothing dropped),
and every request sent is recorded (each record understood or carrying its reason). The harness, an upstream
answering each request with the hostile response drawn for it, is in `hostile_proxy.py`
(on `proxy_harness.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given

from tests.sidecar.capture.hostile import CI, Hostile, hostile
from tests.sidecar.hostile_proxy import assert_all_recorded, running_harness, send_and_compare
from tests.sidecar.proxy_harness import ProxyHarness


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[ProxyHarness]:
    """The harness for the whole test function (all of its examples)."""
    with running_harness(tmp_path) as h:
        yield h


@pytest.mark.slow  # ~80 exchanges, some of a few hundred KiB, through the proxy and the store
def test_hostile_exchanges_pass_through_exactly_and_are_all_recorded(harness: ProxyHarness) -> None:
    @CI
    @given(case=hostile())
    def check(case: Hostile) -> None:
        send_and_compare(harness, case, f"hostile-{len(harness.sent)}")

    for depth in (250, 254, 255, 256, 1000, 1024, 1025):  # around orjson's encoder and parser limits
        body = b"[" * depth + b"NaN" + b"]" * depth
        for path in ("/predict", "/v1/models/m:predict", "/v2/models/m/infer"):
            deep = Hostile("deep", "-", "POST", path, (), body, 200, (), body, {})
            send_and_compare(harness, deep, f"deep-{depth}-{len(harness.sent)}")
    check()
    assert len(harness.sent) > 21  # the deep bodies and hypothesis' examples
    assert_all_recorded(harness)
