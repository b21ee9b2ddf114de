"""`driftcar reference set/list` through `sidecar.cli.main`, on both backends."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pandas as pd
import pytest

from sidecar.cli import main
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.references import ReferenceStore


def _stored(url: str, monitor: str) -> list[tuple[int, pd.DataFrame]]:
    async def read() -> list[tuple[int, pd.DataFrame]]:
        engine = create_engine(url)
        try:
            await upgrade(engine)  # a refused file leaves the database untouched, possibly unmigrated
            store = ReferenceStore(engine)
            infos = await store.list_references(monitor)
            return [(i.version, (await store.get_reference(monitor, i.version))[1]) for i in infos]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_set_and_list(database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "ref.csv"
    csv.write_text("age,city,score\n31,paris,0.5\n45,lyon,0.25\n")
    jsonl = tmp_path / "ref.jsonl"
    jsonl.write_text('{"age": 50, "city": "nice"}\n')
    assert main(["reference", "list", "churn", "--database-url", database_url]) == 0
    assert "churn: no reference yet" in capsys.readouterr().out
    assert main(["reference", "set", "churn", str(csv), "--database-url", database_url, "--note", "Q1"]) == 0
    out = capsys.readouterr().out
    assert (
        out.startswith("churn: stored reference v1 ")
        and "upload   2 rows x 3 columns" in out
        and out.rstrip().endswith("Q1")
    )
    assert main(["reference", "set", "churn", str(jsonl), "--database-url", database_url]) == 0
    capsys.readouterr()
    assert main(["reference", "list", "churn", "--database-url", database_url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["v2", "v1"]
    assert "1 rows x 2 columns" in lines[0] and lines[1].endswith("Q1")
    stored = _stored(database_url, "churn")
    pd.testing.assert_frame_equal(
        stored[1][1], pd.DataFrame({"age": [31, 45], "city": ["paris", "lyon"], "score": [0.5, 0.25]})
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("ragged.csv", "a,b\n1,2\n3,4\n5,6,7\n", "ragged.csv: line 4: 3 fields, but the header has 2"),
        ("rows.jsonl", '{"a": 1}\n"text"\n', "rows.jsonl: line 2: a JSON str, not an object"),
        ("empty.csv", "a,b\n1,\n", "empty.csv: column 'b' (column 2) has no values"),
        ("mixed.jsonl", '{"a": 1}\n{"a": "one"}\n', "column 'a': row 2 holds str, earlier rows int"),
    ],
)
def test_bad_file_is_one_line_and_stores_nothing(
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: str,
    message: str,
) -> None:
    path = tmp_path / name
    path.write_text(content)
    assert main(["reference", "set", "m", str(path), "--database-url", database_url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("driftcar reference: error: ") and message in err, err
    assert _stored(database_url, "m") == []


def test_unreachable_database_hides_the_password(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql://driftcar:s3cret-pw@127.0.0.1:9/nowhere"  # port 9 (discard) is closed here
    assert main(["reference", "list", "m", "--database-url", url]) == 2
    err = capsys.readouterr().err
    assert "s3cret-pw" not in err and "driftcar:***@127.0.0.1:9/nowhere" in err and err.count("\n") == 1
