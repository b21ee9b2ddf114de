"""KServe V1 data plane: `POST /v1/models/NAME:predict` `{"instances": [...]}` -> `{"predictions": [...]}`.

KServe V1 is TensorFlow Serving's predict API, path included: the two are the same on the wire, so there is
one parser (`tfserving`) and the choice of adapter only decides the `protocol` label. With `adapter: auto` the
path `/v1/models/{model}:predict` is read by `tfserving` (the superset: it also reads versioned and labelled
paths, columnar `inputs`, `b64` values, NaN/Infinity, `:classify` and `:regress`). Set `adapter: kserve_v1` on
a KServe route to label its records `kserve_v1`; parsing is identical. KServe's errors are `{"error": "..."}`
(404 for an unknown model, 500 for a model exception or a body without `instances`).

Features and predictions follow the TF Serving rules: dict instances keep their keys, list instances are
positional (`feature_names`, else `f0..`), one prediction per instance.
"""

from __future__ import annotations

import re
from typing import Final

from sidecar.capture.adapter import RouteMatch
from sidecar.capture.tfserving import TFServingAdapter

TEMPLATE: Final = "/v1/models/{model}:predict"
_ROUTE: Final = re.compile(r"/v1/models/([^/:]+):predict")


class KServeV1Adapter(TFServingAdapter):
    """KServe V1 predict: TF Serving's parser labelled `kserve_v1`, for `/v1/models/{model}:predict`."""

    name = "kserve_v1"

    def route(self, path: str) -> RouteMatch | None:
        """`/v1/models/{model}:predict` only (versions, labels, classify and regress are TF Serving's)."""
        if not path.startswith("/v1/models/"):
            return None
        match = _ROUTE.fullmatch(path)
        if match is None:
            return None
        return RouteMatch(TEMPLATE, match.group(1), None, {"method": "predict"})
