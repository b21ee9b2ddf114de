"""A small scikit-learn model served MLflow-style (`/invocations`) and FastAPI-style (`/predict`)."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

import numpy as np
import orjson
import pandas as pd
from aiohttp import web
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sidecar.demo.dataset import FEATURES, NUMERIC, make_loans

logger = logging.getLogger(__name__)

MODEL = web.AppKey("model", Pipeline)
# `sex` is deliberately not a model input; bias can only arrive through correlated features.
MODEL_FEATURES = [f for f in FEATURES if f != "sex"]


def train(rows: int = 5000, seed: int = 7) -> Pipeline:
    """Fit a logistic regression on the synthetic loan data."""
    data = make_loans(rows, seed)
    pre = ColumnTransformer(
        [("num", StandardScaler(), NUMERIC), ("cat", OneHotEncoder(handle_unknown="ignore"), ["region"])]
    )
    model = Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=500))])
    model.fit(data[MODEL_FEATURES], data["approved"])
    return model


def _frame(doc: Any) -> pd.DataFrame:
    """MLflow scoring-server input formats."""
    if not isinstance(doc, dict):
        raise ValueError("expected a JSON object")
    if "dataframe_split" in doc:
        split = doc["dataframe_split"]
        return pd.DataFrame(split["data"], columns=split["columns"])
    if "dataframe_records" in doc:
        return pd.DataFrame(doc["dataframe_records"])
    if "instances" in doc:
        return pd.DataFrame(doc["instances"])
    if "inputs" in doc:
        return pd.DataFrame(doc["inputs"])
    raise ValueError("body must contain dataframe_split, dataframe_records, instances or inputs")


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error_code": code, "message": message}, status=status)


async def invocations(request: web.Request) -> web.Response:
    """MLflow's `/invocations`: JSON formats or text/csv in, `{"predictions": [...]}` out."""
    body = await request.read()
    ctype = request.headers.get("Content-Type", "")
    try:
        if ctype.startswith("text/csv"):
            frame = pd.read_csv(io.BytesIO(body))
        elif ctype.startswith("application/json"):
            frame = _frame(orjson.loads(body))
        else:
            return web.Response(status=415, text=f"Unsupported content type {ctype!r}")
        missing = [c for c in MODEL_FEATURES if c not in frame.columns]
        if missing:
            return _error(400, "BAD_REQUEST", f"missing columns: {missing}")
        predictions = request.app[MODEL].predict(frame[MODEL_FEATURES])
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
        return _error(400, "BAD_REQUEST", str(exc))
    return web.json_response({"predictions": np.asarray(predictions).tolist()})


async def predict(request: web.Request) -> web.Response:
    """FastAPI-tutorial style: one JSON object of features in, `{"prediction": ...}` out."""
    try:
        doc = orjson.loads(await request.read())
        frame = pd.DataFrame([doc])[MODEL_FEATURES]
        prediction = int(request.app[MODEL].predict(frame)[0])
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
        return web.json_response({"detail": [{"type": "value_error", "msg": str(exc)}]}, status=422)
    return web.json_response({"prediction": prediction})


async def ping(request: web.Request) -> web.Response:
    """Health check, like MLflow's."""
    return web.Response(text="\n", content_type="application/json")


async def create_model_app(model: Pipeline | None = None) -> web.Application:
    """The model server app (trains the model in a thread when none is given)."""
    app = web.Application()
    app[MODEL] = model if model is not None else await asyncio.to_thread(train)
    app.router.add_post("/invocations", invocations)
    app.router.add_post("/predict", predict)
    app.router.add_get("/ping", ping)
    app.router.add_get("/", ping)
    return app
