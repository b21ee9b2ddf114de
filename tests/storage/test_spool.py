"""The on-disk spool: ordering, bounds, rotation, locking, and recovery after a kill -9 with a torn tail."""

from __future__ import annotations

import dataclasses
import math
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from storage.codec import row_to_record
from storage.errors import SpoolError
from storage.records import Record
from storage.spool import Segment, Spool
from tests.storage.helpers import make_records


def read_records(spool: Spool, segment: Segment) -> list[Record]:
    return [row_to_record(row) for row in spool.read(segment).rows]


def test_append_seal_read_ack_round_trip(tmp_path: Path) -> None:
    batch = make_records(50)
    batch[3] = dataclasses.replace(batch[3], latency_ms=math.nan, features={"x": math.inf, "s": "a\x00"})
    with Spool(tmp_path / "spool") as spool:
        assert spool.append(batch) == 50
        assert spool.segments() == []  # nothing replayable before the segment is sealed
        (segment,) = spool.seal()
        assert spool.segments() == [segment]
        assert spool.nbytes == segment.nbytes > 0
        assert spool.read(segment).corrupt == 0
        back = read_records(spool, segment)
        assert back[:3] == batch[:3]
        assert back[4:] == batch[4:]
        assert back[3].features == {"x": None, "s": "a\ufffd"}  # the same policy as the database
        assert math.isnan(back[3].latency_ms)
        spool.ack(segment)
        assert (spool.segments(), spool.nbytes) == ([], 0)


def test_segments_rotate_are_ordered_and_unique(tmp_path: Path) -> None:
    with Spool(tmp_path, segment_bytes=4096) as spool:
        for start in range(0, 200, 10):
            spool.append(make_records(10, start=start))
        spool.seal()
        segments = spool.segments()
        assert len(segments) > 3
        assert len({s.id for s in segments}) == len(segments)
        assert [s.id for s in segments] == sorted(s.id for s in segments)
        replayed = [r for s in segments for r in read_records(spool, s)]
        assert replayed == make_records(200)


def test_bounded_in_bytes(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=20_000) as spool:
        taken = spool.append(make_records(1000))
        assert 0 < taken < 1000
        assert spool.nbytes <= 20_000
        assert spool.append(make_records(10)) == 0
        spool.seal()
        (segment,) = spool.segments()
        assert len(spool.read(segment).rows) == taken
        spool.ack(segment)
        assert spool.append(make_records(10)) == 10


def test_unencodable_record_is_counted_not_fatal(tmp_path: Path) -> None:
    batch = make_records(3)
    batch[1] = dataclasses.replace(batch[1], ts=math.nan)
    with Spool(tmp_path) as spool:
        assert spool.append(batch) == 3
        assert spool.rejected == 1
        spool.seal()
        assert read_records(spool, spool.segments()[0]) == [batch[0], batch[2]]


def test_one_process_per_directory(tmp_path: Path) -> None:
    with Spool(tmp_path), pytest.raises(SpoolError, match="locked"):
        Spool(tmp_path).open()
    with Spool(tmp_path):  # released on close
        pass


def test_corrupt_and_torn_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append(make_records(10))
        (segment,) = spool.seal()
    lines = segment.path.read_bytes().splitlines(keepends=True)
    lines.insert(4, b'{"not": "a record"}\n')
    lines.insert(6, b"\x00\xff garbage\n")
    torn = lines[-1][: len(lines[-1]) // 2]  # the last write cut short
    segment.path.write_bytes(b"".join([*lines[:-1], torn]))
    with Spool(tmp_path) as spool:
        (segment,) = spool.segments()
        assert spool.read(segment).corrupt == 3
        assert read_records(spool, segment) == make_records(9)


CRASHING_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from storage.spool import Spool
    from tests.storage.helpers import make_records

    spool = Spool(sys.argv[1])
    spool.open()
    spool.append(make_records(25))
    spool.append(make_records(25, start=25))
    os.kill(os.getpid(), signal.SIGKILL)  # no seal, no close
    """
)


def test_records_appended_before_kill_9_are_recovered(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    proc = subprocess.run(
        [sys.executable, "-c", CRASHING_WRITER, str(directory)], cwd=Path(__file__).parents[2], check=False
    )
    assert proc.returncode == -signal.SIGKILL
    assert len(list(directory.glob("*.open"))) == 1
    with Spool(directory) as spool:
        (segment,) = spool.segments()  # the unsealed segment was sealed on open
        assert spool.read(segment).corrupt == 0
        assert read_records(spool, segment) == make_records(50)
