"""Time `to_records` per protocol on the fixture exchanges: `python -m bench.capture [--seconds 0.3]`."""

from __future__ import annotations

import argparse
import time

from sidecar.capture.registry import to_records
from tests.fixtures.protocols import case

CASES = [
    "fastapi_predict",
    "bentoml_classify_batch",
    "mlflow_dataframe_split",
    "mlflow_csv",
    "kserve_v1_predict",
    "tfserving_predict_columnar",
    "tfserving_classify_label_context",
    "kserve_v2_json_nested",
    "kserve_v2_binary",
    "kserve_v2_binary_bytes",
    "cog_succeeded",
    "seldon_ndarray_names",
    "kserve_v1_404_unknown_model",
]


def measure(name: str, seconds: float) -> tuple[float, int]:
    """Microseconds per `to_records` call for one fixture case, and its request body size."""
    fixture = case(name)
    exchange, options = fixture.exchange(), fixture.capture_options()
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(200):
            to_records(exchange, options)
        calls += 200
    return elapsed / calls * 1e6, len(exchange.request_body or b"")


def main() -> None:
    """Print one line per case."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=0.3, help="time spent per case")
    args = parser.parse_args()
    for name in CASES:
        micros, size = measure(name, args.seconds)
        print(f"{name:36} {size:5d} B  {micros:6.1f} us")


if __name__ == "__main__":
    main()
