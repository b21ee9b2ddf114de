"""Every broken reference file through `driftcar reference set`: exit 2, one line naming the file and the
line/column at fault, and the monitor's stored references unchanged (the version stored before is intact)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sidecar.cli import main
from tests.sidecar.cli.test_reference_cli import _stored
from tests.storage.bad_references import BAD_FILES, GOOD


def test_bad_files_are_refused_and_leave_the_references_unchanged(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.csv"
    good.write_bytes(GOOD)
    assert main(["reference", "set", "m", str(good), "--database-url", database_url]) == 0
    capsys.readouterr()
    before = _stored(database_url, "m")
    assert [version for version, _ in before] == [1]
    failures = []
    for bad in BAD_FILES:
        path = tmp_path / bad.name
        path.write_bytes(bad.content)
        code = main(["reference", "set", "m", str(path), "--database-url", database_url])
        err = capsys.readouterr().err
        expected = f"driftcar reference: error: {path}: "
        if code != 2 or err.count("\n") != 1 or bad.message not in err or not err.startswith(expected):
            failures.append(f"{bad.name}: exit {code}: {err!r}")
    assert not failures, "\n".join(failures)
    after = _stored(database_url, "m")
    assert [version for version, _ in after] == [1]
    pd.testing.assert_frame_equal(after[0][1], before[0][1])
