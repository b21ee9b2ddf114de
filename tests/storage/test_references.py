"""Reference sets: round trips with dtypes, versions per monitor, refusals that store nothing, files, pinning."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.errors import InvalidReference, NotFound, StorageError
from storage.feedback import FeedbackItem, FeedbackStore
from storage.reference_files import read_reference_file
from storage.references import ReferenceStore
from storage.store import RecordStore
from tests.storage.test_windows import T0, rec


def typed_frame() -> pd.DataFrame:
    """One column per dtype a reference is expected to keep."""
    return pd.DataFrame(
        {
            "amount": np.array([1.5, np.nan, -3.25]),
            "count": np.array([1, 2, 3], dtype=np.int64),
            "flag": [True, False, True],
            "city": ["a", "b", None],
            "tier": pd.Categorical(["gold", "silver", "gold"]),
            "when": pd.to_datetime(["2025-01-01", "2025-06-30 12:00", "NaT"], utc=True, format="ISO8601"),
            "maybe": pd.array([1, None, 3], dtype="Int64"),
            "name": pd.array(["x", None, "z"], dtype="string"),
        }
    )


async def test_round_trip_keeps_values_and_dtypes(migrated_engine: AsyncEngine) -> None:
    store = ReferenceStore(migrated_engine)
    frame = typed_frame()
    info = await store.put_reference("churn", frame, note="q1 sample")
    assert (info.monitor, info.version, info.source, info.n_rows, info.note) == (
        "churn",
        1,
        "upload",
        3,
        "q1 sample",
    )
    assert info.columns == tuple(frame.columns)
    assert info.dtypes == tuple(str(t) for t in frame.dtypes)
    assert info.size_bytes > 0
    got_info, got = await store.get_reference("churn")
    assert got_info == info
    pd.testing.assert_frame_equal(got, frame)


async def test_versions_per_monitor(migrated_engine: AsyncEngine) -> None:
    store = ReferenceStore(migrated_engine)
    for value in (1, 2, 3):
        await store.put_reference("a", pd.DataFrame({"x": [value]}))
    await store.put_reference("b", pd.DataFrame({"y": [9]}), source="first_n")
    assert [i.version for i in await store.list_references("a")] == [3, 2, 1]
    assert [(i.version, i.source) for i in await store.list_references("b")] == [(1, "first_n")]
    assert await store.list_references("nobody") == []
    latest_info, latest = await store.get_reference("a")
    assert (latest_info.version, latest["x"].tolist()) == (3, [3])
    assert (await store.get_reference("a", version=2))[1]["x"].tolist() == [2]
    with pytest.raises(NotFound, match="'a' has no reference version 7"):
        await store.get_reference("a", version=7)
    with pytest.raises(NotFound, match="'nobody' has no reference"):
        await store.get_reference("nobody")


async def test_concurrent_puts_get_distinct_versions(database_url: str, migrated_engine: AsyncEngine) -> None:
    from storage.engine import create_engine

    engines = [create_engine(database_url) for _ in range(5)]
    try:
        infos = await asyncio.gather(
            *(ReferenceStore(e).put_reference("m", pd.DataFrame({"x": [i]})) for i, e in enumerate(engines))
        )
    finally:
        for e in engines:
            await e.dispose()
    assert sorted(i.version for i in infos) == [1, 2, 3, 4, 5]
    for info in infos:
        assert (await ReferenceStore(migrated_engine).get_reference("m", info.version))[0].id == info.id


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame(), "no columns"),
        (pd.DataFrame({"x": []}), "no rows"),
        (pd.DataFrame({0: [1]}), "column 1 is named 0 \\(int\\); names must be strings"),
        (pd.DataFrame([[1, 2]], columns=["x", "x"]), "duplicate column name 'x' \\(columns 1 and 2\\)"),
        (pd.DataFrame({" ": [1]}), "column 1 has an empty name"),
        (pd.DataFrame({"ok": [1, 2, 3], "mixed": [1.5, None, "text"]}), "column 'mixed': row 3 holds str"),
    ],
)
async def test_refused_frames_store_nothing(
    migrated_engine: AsyncEngine, frame: pd.DataFrame, message: str
) -> None:
    store = ReferenceStore(migrated_engine)
    with pytest.raises(InvalidReference, match=message):
        await store.put_reference("m", frame)
    assert await store.list_references("m") == []


async def test_pin_from_traffic_and_first_n(migrated_engine: AsyncEngine) -> None:
    await RecordStore(migrated_engine).insert(
        [rec(i, {"f0": float(i), "f1": f"c{i % 2}"}, [0.5 - i / 10, 0.5 + i / 10]) for i in range(5)]
    )
    store = ReferenceStore(migrated_engine)
    info = await store.pin_reference_from_traffic("m", T0 + 1, T0 + 3, model="m")
    assert (info.version, info.source, info.n_rows, info.note) == (
        1,
        "traffic",
        2,
        f"records with {T0 + 1} <= ts < {T0 + 3}",
    )
    assert info.columns == ("f0", "f1", "prediction", "prediction_argmax")  # no metadata, no empty label
    _, frame = await store.get_reference("m")
    assert frame["f0"].tolist() == [1.0, 2.0] and frame["f1"].tolist() == ["c1", "c0"]
    assert [p.tolist() for p in frame["prediction"]] == [[0.4, 0.6], [0.3, 0.7]]
    assert frame["prediction_argmax"].tolist() == [1, 1] and frame["prediction_argmax"].dtype == "Int64"

    await FeedbackStore(migrated_engine).add_feedback([FeedbackItem("r0", "yes")])
    first = await store.pin_reference_first_n("m", 2, features=["f1"])
    assert (first.version, first.source, first.columns) == (
        2,
        "first_n",
        ("f1", "prediction", "prediction_argmax", "label"),
    )
    assert (await store.get_reference("m"))[1]["label"].tolist() == ["yes", None]
    with pytest.raises(InvalidReference, match="no usable records"):
        await store.pin_reference_from_traffic("m", T0 + 100, T0 + 200)
    assert len(await store.list_references("m")) == 2


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_csv_jsonl_and_parquet(tmp_path: Path) -> None:
    expected = pd.DataFrame({"a": [1, 2], "b": ["x", "y"], "c": [0.5, np.nan]})
    csv = _write(tmp_path / "ref.csv", "a,b,c\n1,x,0.5\n\n2,y,\n")
    pd.testing.assert_frame_equal(read_reference_file(csv), expected)
    jsonl = _write(tmp_path / "ref.jsonl", '{"a": 1, "b": "x", "c": 0.5}\n\n{"a": 2, "b": "y"}\n')
    pd.testing.assert_frame_equal(read_reference_file(jsonl), expected)
    expected.to_parquet(tmp_path / "ref.parquet")
    pd.testing.assert_frame_equal(read_reference_file(tmp_path / "ref.parquet"), expected)


def _ragged_csv() -> str:
    rows = ["a,b,c"] + [f"{i},{i},{i}" for i in range(15)] + ["1,2,3,4"]  # the 17th line has 4 fields
    return "\n".join(rows) + "\n"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("ragged.csv", _ragged_csv(), "line 17: 4 fields, but the header has 3"),
        ("short.csv", "a,b\n1,2\n3\n", "line 3: 1 fields, but the header has 2"),
        ("quoted.csv", 'a,b\n1,"two\nlines"\n3,4,5\n', "line 4: 3 fields"),
        ("dup.csv", "a,b,a\n1,2,3\n", "duplicate column name 'a' \\(columns 1 and 3\\)"),
        ("unnamed.csv", "a,,c\n1,2,3\n", "column 2 has an empty name"),
        ("empty_col.csv", "a,b\n1,\n2,\n", "column 'b' \\(column 2\\) has no values"),
        ("header_only.csv", "a,b\n", "no data rows"),
        ("empty.csv", "", "the file is empty"),
        ("latin1.csv", None, "line 2, byte 6: not UTF-8 text"),
        ("list.jsonl", '{"a": 1}\n{"a": 2}\n[1, 2]\n', "line 3: a JSON array, not an object"),
        ("number.jsonl", '{"a": 1}\n\n7\n', "line 3: a JSON int, not an object"),
        ("broken.jsonl", '{"a": 1}\n{"a": 2,, }\n', "line 2, column 9: invalid JSON"),
        ("nothing.jsonl", "\n\n", "no columns"),
        ("null.jsonl", '{"a": 1, "b": null}\n{"a": 2}\n', "column 'b' \\(column 2\\) has no values"),
        ("corrupt.parquet", "not parquet at all", "not a readable Parquet file"),
        ("ref.xlsx", "whatever", "unsupported file type '.xlsx'"),
    ],
)
def test_bad_files_name_the_line_or_column(
    tmp_path: Path, name: str, content: str | None, message: str
) -> None:
    path = tmp_path / name
    if content is None:
        path.write_bytes("a,b\n1,caf\xe9\n".encode("latin-1"))
    else:
        _write(path, content)
    with pytest.raises(InvalidReference, match=message) as caught:
        read_reference_file(path)
    assert str(caught.value).startswith(str(path))
    assert isinstance(caught.value, StorageError) and isinstance(caught.value, ValueError)


def test_parquet_with_duplicate_names(tmp_path: Path) -> None:
    table = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["x", "x"])
    pq.write_table(table, tmp_path / "dup.parquet")
    with pytest.raises(InvalidReference, match="duplicate column name 'x'"):
        read_reference_file(tmp_path / "dup.parquet")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidReference, match="no such file"):
        read_reference_file(tmp_path / "absent.csv")


def test_jsonl_keeps_nested_values(tmp_path: Path) -> None:
    rows = [{"a": 1, "tags": ["x", "y"]}, {"a": 2, "tags": []}]
    path = _write(tmp_path / "nested.jsonl", "\n".join(json.dumps(r) for r in rows))
    assert read_reference_file(path)["tags"].tolist() == [["x", "y"], []]
