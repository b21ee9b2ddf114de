"""Windows of captured records as DataFrames, on both backends, from records stored by `RecordStore.insert`."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import windows
from storage.columns import chunk, concat
from storage.errors import StoreUnavailable
from storage.feedback import FeedbackItem, FeedbackStore
from storage.records import Record
from storage.store import RecordStore
from storage.windows import first_n_records, load_window

T0 = 1_700_000_000.0


def rec(i: int, features: dict[str, Any] | None, prediction: Any = 1, **kw: Any) -> Record:
    """Record number `i` (ts T0 + i, request `r{i}`), model `m` version `1` unless overridden."""
    values: dict[str, Any] = {
        "ts": T0 + i,
        "request_id": f"r{i}",
        "row": 0,
        "route": "/predict",
        "protocol": "generic",
        "status": 200,
        "latency_ms": 1.0,
        "model": "m",
        "model_version": "1",
        "features": features,
        "prediction": prediction,
    }
    values.update(kw)
    return Record(**values)


async def test_window_contents_and_filters(migrated_engine: AsyncEngine) -> None:
    await RecordStore(migrated_engine).insert(
        [
            rec(0, {"a": 1.5, "b": "x"}, 0.25),
            rec(1, {"a": 2.5, "b": "y"}, 0.75),
            rec(2, {"a": 9.0, "b": "z"}, 0.5, error="bad response"),  # skipped: error
            rec(3, None, 0.5),  # skipped: no features
            rec(4, {"a": 3.5, "b": "x"}, 0.5, model="other"),
            rec(5, {"a": 4.5, "b": "w"}, 1.0, model_version="2", route="/v2"),
            rec(6, {"a": 5.5, "b": "v"}, 0.0),
        ]
    )
    frame = await load_window(migrated_engine, model="m", start=T0 + 1, end=T0 + 6)
    expected = pd.DataFrame(
        {
            "ts": [T0 + 1, T0 + 5],
            "request_id": np.array(["r1", "r5"], dtype=object),
            "row": np.array([0, 0], dtype=np.int64),
            "a": [2.5, 4.5],
            "b": np.array(["y", "w"], dtype=object),
            "prediction": [0.75, 1.0],
            "label": np.array([None, None], dtype=object),
        }
    )
    pd.testing.assert_frame_equal(frame, expected)
    everything = await load_window(migrated_engine)
    assert everything["request_id"].tolist() == ["r0", "r1", "r4", "r5", "r6"]
    by_version = await load_window(migrated_engine, model="m", model_version="2")
    assert by_version["request_id"].tolist() == ["r5"]
    by_route = await load_window(migrated_engine, route="/predict", end=T0 + 4.5)
    assert by_route["request_id"].tolist() == ["r0", "r1", "r4"]
    last = await load_window(migrated_engine, model="m", last_n=2)
    assert (last["request_id"].tolist(), last["a"].tolist()) == (["r5", "r6"], [4.5, 5.5])
    first = await first_n_records(migrated_engine, 2, model="m")
    assert first["request_id"].tolist() == ["r0", "r1"]
    assert (await first_n_records(migrated_engine, 1, start=T0 + 4))["request_id"].tolist() == ["r4"]


async def test_prediction_shapes_and_argmax(migrated_engine: AsyncEngine) -> None:
    predictions: list[Any] = [
        [0.1, 0.9],
        [0.7, 0.3],
        [0.2, None],
        [5],
        "cat",
        [["a", "b"]],
        [0.5, 0.25, 0.25],
        None,
    ]
    await RecordStore(migrated_engine).insert([rec(i, {"x": i}, p) for i, p in enumerate(predictions)])
    frame = await load_window(migrated_engine)
    values = frame["prediction"].tolist()
    assert isinstance(values[0], np.ndarray) and values[0].tolist() == [0.1, 0.9]
    assert values[1].tolist() == [0.7, 0.3]
    assert np.isnan(values[2][1])  # the stored null of a NaN probability
    assert values[3:6] == [5, "cat", ["a", "b"]]  # a one-element list is unwrapped; non-numbers stay lists
    assert values[6].tolist() == [0.5, 0.25, 0.25]
    assert values[7] is None
    assert frame["prediction_argmax"].dtype == "Int64"
    assert frame["prediction_argmax"].tolist() == [1, 0, pd.NA, pd.NA, pd.NA, pd.NA, 0, pd.NA]
    assert frame["x"].tolist() == list(range(8)) and frame["x"].dtype == np.int64


async def test_scalar_predictions_have_no_argmax_column(migrated_engine: AsyncEngine) -> None:
    await RecordStore(migrated_engine).insert([rec(i, {"x": 1.0}, i % 2) for i in range(4)])
    frame = await load_window(migrated_engine)
    assert list(frame.columns) == ["ts", "request_id", "row", "x", "prediction", "label"]
    assert frame["prediction"].dtype == np.int64


async def test_feature_names_order_and_types(migrated_engine: AsyncEngine) -> None:
    await RecordStore(migrated_engine).insert(
        [
            rec(0, {"n": 1, "label": "own", "s": "a"}),
            rec(1, {"n": 2, "s": None, "late": True}),
            rec(2, {"n": None, "s": 3, "late": False, "nested": {"k": [1, 2]}}),
        ]
    )
    frame = await load_window(migrated_engine)
    assert list(frame.columns) == [
        "ts",
        "request_id",
        "row",
        "features.label",  # a feature named like a window column is renamed
        "late",
        "n",
        "nested",
        "s",
        "prediction",
        "label",
    ]
    assert (
        frame["n"].tolist()[:2] == [1.0, 2.0] and np.isnan(frame["n"][2]) and frame["n"].dtype == np.float64
    )
    assert frame["features.label"].tolist() == ["own", None, None]
    assert frame["s"].tolist() == ["a", None, 3] and frame["s"].dtype == object
    assert frame["late"].tolist() == [None, True, False]
    assert frame["nested"].tolist() == [None, None, {"k": [1, 2]}]
    chosen = await load_window(migrated_engine, features=["s", "missing", "n"])
    assert list(chosen.columns) == ["ts", "request_id", "row", "s", "missing", "n", "prediction", "label"]
    assert chosen["missing"].tolist() == [None, None, None]


async def test_labels_are_joined(migrated_engine: AsyncEngine) -> None:
    await RecordStore(migrated_engine).insert([rec(i, {"x": float(i)}, row=i % 2) for i in range(4)])
    await FeedbackStore(migrated_engine).add_feedback(
        [
            FeedbackItem("r1", 1, row=1),
            FeedbackItem("r2", 0, row=0),
            FeedbackItem("r3", 1, row=0),
        ]  # r3 is row 1
    )
    frame = await load_window(migrated_engine)
    assert frame["label"].dtype == np.float64  # numbers with missing labels, as pandas infers them
    assert np.isnan(frame["label"][0]) and np.isnan(frame["label"][3])
    assert frame["label"].tolist()[1:3] == [1.0, 0.0]


async def test_empty_window(migrated_engine: AsyncEngine) -> None:
    frame = await load_window(migrated_engine, model="nothing", features=["a"])
    assert list(frame.columns) == ["ts", "request_id", "row", "a", "prediction", "label"]
    assert len(frame) == 0 and frame["ts"].dtype == np.float64


async def test_chunks_agree_with_one_pass(
    migrated_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Columns that appear, change type or go missing between chunks are joined like pandas would."""
    features: list[dict[str, Any]] = [{"i": i, "f": i if i < 5 else i + 0.5} for i in range(12)]
    features[7]["late"] = "x"
    features[9]["s"] = 1
    features[11]["s"] = "one"
    await RecordStore(migrated_engine).insert([rec(i, f, [i % 3, 1]) for i, f in enumerate(features)])
    whole = await load_window(migrated_engine)
    monkeypatch.setattr(windows, "CHUNK_ROWS", 4)
    chunked = await load_window(migrated_engine)
    pd.testing.assert_frame_equal(chunked.drop(columns="prediction"), whole.drop(columns="prediction"))
    oracle = pd.DataFrame(features)  # pandas fills the keys a row lacks with NaN, driftcar with None
    for name in ("i", "f", "late", "s"):
        assert chunked[name].dtype == oracle[name].dtype
        assert _nulls_as_none(chunked[name]) == _nulls_as_none(oracle[name])
    assert chunked["prediction_argmax"].tolist() == [1, 0, 0] * 4  # ties go to the first
    last = await load_window(migrated_engine, last_n=5)
    assert last["i"].tolist() == [7, 8, 9, 10, 11]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"last_n": 0}, "last_n must be a positive integer"), ({"start": 2.0, "end": 1.0}, "is after end")],
)
async def test_bad_arguments(migrated_engine: AsyncEngine, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        await load_window(migrated_engine, **kwargs)


def _nulls_as_none(series: pd.Series) -> list[Any]:
    return [None if value is None or value != value else value for value in series.tolist()]


_cuts = st.lists(st.integers(0, 30), max_size=4)
_exact_ints = st.integers(-(2**53), 2**53)  # ints that survive a float64 chunk exactly
# Values of one column: numbers only, or a mix of types without both ints and floats (see below).
_columns = st.one_of(
    st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False)), max_size=30),
    st.lists(st.one_of(st.none(), st.booleans(), _exact_ints, st.text(max_size=3)), max_size=30),
    st.lists(
        st.one_of(st.none(), st.booleans(), st.floats(allow_nan=False), st.text(max_size=3)), max_size=30
    ),
)


@given(values=_columns, cuts=_cuts)
def test_chunked_inference_matches_pandas(values: list[Any], cuts: list[int]) -> None:
    """Inferring per chunk, then joining, gives the dtype and values pandas gives for the whole list.

    Not covered, by design: a column of ints, floats and other types (the ints of a chunk that also held
    floats come back as floats) and ints beyond 2**53 in a chunk with missing values in such a column.
    """
    bounds = sorted({0, len(values), *(c for c in cuts if c <= len(values))})
    ours = pd.Series(concat([chunk(values[lo:hi]) for lo, hi in itertools.pairwise(bounds)]))
    oracle = pd.Series(values, dtype=object if not values else None)
    pd.testing.assert_series_equal(ours, oracle, check_index_type=False)


async def test_database_errors_are_storage_errors(engine: AsyncEngine) -> None:
    """An unmigrated database (no `records` table) is StoreUnavailable, as for every storage read."""
    with pytest.raises(StoreUnavailable):
        await load_window(engine)
