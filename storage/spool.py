"""An on-disk spool of records for when the database is down or the queue is full.

The spool is a directory of segment files, one JSON object per line (see `codec.row_to_line`). Records are
appended to an open segment (`<id>.open`); `seal()` fsyncs it and renames it to `<id>.seg`, and only sealed
segments are replayed, oldest first. A segment id is `<time_ns>-<uuid4 hex>`: ordered by age, unique across
restarts and replicas. A process takes an exclusive lock on the directory: one spool directory per process.

`append` runs on the event loop and never fsyncs; `seal`, `read` and `ack` may block and are meant to run in a
worker thread. All methods are thread-safe.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Self

from storage import codec
from storage.errors import SpoolError
from storage.records import Record

logger = logging.getLogger(__name__)

OPEN, SEALED, REJECTED = ".open", ".seg", ".rejected"


@dataclass(frozen=True, slots=True)
class Segment:
    """A sealed segment file, ready to replay."""

    id: str
    path: Path
    nbytes: int


@dataclass(frozen=True, slots=True)
class SegmentContents:
    """The rows read back from a segment (`codec.Row`), and how many lines were unreadable (a torn tail)."""

    rows: list[codec.Row]
    corrupt: int


class Spool:
    """A bounded directory of segment files; see the module docstring."""

    def __init__(
        self, directory: str | Path, *, max_bytes: int = 256 << 20, segment_bytes: int = 8 << 20
    ) -> None:
        if max_bytes <= 0 or segment_bytes <= 0:
            raise ValueError(f"spool sizes must be > 0, got {max_bytes=}, {segment_bytes=}")
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = min(segment_bytes, max_bytes)
        self._lock = threading.Lock()
        self._lock_file: IO[bytes] | None = None
        self._file: IO[bytes] | None = None
        self._file_bytes = 0
        self._unsealed: list[Path] = []
        self._nbytes = 0
        self.rejected = 0
        """Records `append` took but could not encode."""

    @property
    def nbytes(self) -> int:
        """Bytes held in open and sealed segments (what counts against `max_bytes`)."""
        return self._nbytes

    @property
    def has_unsealed(self) -> bool:
        """True when appended records sit in a segment that `seal()` has not closed yet."""
        return self._file is not None or bool(self._unsealed)

    def open(self) -> None:
        """Create and lock the directory; seal segments left open by a previous process."""
        if self._lock_file is not None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            lock_file = (self.directory / ".lock").open("ab")
        except OSError as exc:
            raise SpoolError(f"spool directory {self.directory} is not usable: {exc}") from None
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock_file.close()
            raise SpoolError(f"spool directory {self.directory} is locked by another process") from None
        self._lock_file = lock_file
        for leftover in sorted(self.directory.glob("*" + OPEN)):
            # Written by a process that died: its tail may be torn; `read` skips and counts such lines.
            self._fsync_path(leftover)
            leftover.rename(leftover.with_suffix(SEALED))
            logger.warning("spool: recovered unsealed segment %s", leftover.stem)
        self._nbytes = sum(s.nbytes for s in self.segments())

    def close(self) -> None:
        """Seal the open segment and release the directory lock."""
        self.seal()
        if self._lock_file is not None:
            self._lock_file.close()  # closing the descriptor releases the flock
            self._lock_file = None

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def append(self, batch: Sequence[Record]) -> int:
        """Append records in order while they fit under `max_bytes`; return how many were taken.

        A record that cannot be encoded (non-finite `ts`) is taken but not written, and counted in `rejected`.
        Raises SpoolError when the write fails (disk full); nothing of that call is then kept.
        """
        if self._lock_file is None:
            raise SpoolError("spool is not open")
        lines: list[bytes] = []
        size = taken = 0
        with self._lock:
            room = self.max_bytes - self._nbytes
            for record in batch:
                try:
                    line = codec.row_to_line(codec.to_row(record))
                except (ValueError, TypeError):
                    self.rejected += 1
                    taken += 1
                    continue
                if size + len(line) > room:
                    break
                lines.append(line)
                size += len(line)
                taken += 1
            if lines:
                self._write(b"".join(lines))
        return taken

    def _write(self, data: bytes) -> None:
        """Write to the open segment (opening one if needed), rotate it when full; called under the lock."""
        if self._file is None:
            name = f"{time.time_ns():020d}-{uuid.uuid4().hex}{OPEN}"
            try:
                self._file = (self.directory / name).open("xb")
            except OSError as exc:
                raise SpoolError(f"spool segment cannot be created: {exc.strerror or exc}") from None
            self._file_bytes = 0
        path = Path(self._file.name)
        try:
            # Flushed at once: after a kill -9 the data is in the page cache, only the fsync is missing.
            self._file.write(data)
            self._file.flush()
        except OSError as exc:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
            with contextlib.suppress(OSError):
                os.truncate(path, self._file_bytes)  # drop the part of this write that landed
            if self._file_bytes:
                self._unsealed.append(path)
            else:
                path.unlink(missing_ok=True)
            raise SpoolError(f"spool write failed: {exc.strerror or exc}") from None
        self._file_bytes += len(data)
        self._nbytes += len(data)
        if self._file_bytes >= self.segment_bytes:
            self._file.close()
            self._file = None
            self._unsealed.append(path)

    def seal(self) -> list[Segment]:
        """Fsync and rename the open segment(s), making them replayable; return the newly sealed segments."""
        with self._lock:
            paths, self._unsealed = self._unsealed, []
            if self._file is not None:
                paths.append(Path(self._file.name))
                self._file.close()
                self._file = None
        sealed: list[Segment] = []
        for path in paths:
            # The fsync runs outside the lock: appends go on into a fresh segment meanwhile.
            self._fsync_path(path)
            target = path.with_suffix(SEALED)
            path.rename(target)
            sealed.append(Segment(target.stem, target, target.stat().st_size))
        if sealed:
            self._fsync_directory()
        return sealed

    def _fsync_directory(self) -> None:
        self._fsync_path(self.directory)

    @staticmethod
    def _fsync_path(path: Path) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def segments(self) -> list[Segment]:
        """Sealed segments, oldest first."""
        found = []
        for path in sorted(self.directory.glob("*" + SEALED)):
            try:
                found.append(Segment(path.stem, path, path.stat().st_size))
            except FileNotFoundError:
                continue  # acked meanwhile
        with self._lock:
            if not found and self._file is None and not self._unsealed:
                self._nbytes = 0  # nothing left: correct any drift (e.g. a segment deleted by hand)
        return found

    def read(self, segment: Segment) -> SegmentContents:
        """Read a segment's rows, skipping (and counting) lines that are torn or not rows."""
        data = segment.path.read_bytes()
        lines = data.split(b"\n")
        corrupt = 1 if lines[-1] else 0  # a last line without its newline was cut short
        rows: list[codec.Row] = []
        for line in lines[:-1]:
            try:
                rows.append(codec.line_to_row(line))
            except ValueError:
                corrupt += 1
        return SegmentContents(rows, corrupt)

    def ack(self, segment: Segment) -> None:
        """Delete a replayed segment."""
        segment.path.unlink(missing_ok=True)
        with self._lock:
            self._nbytes = max(0, self._nbytes - segment.nbytes)

    def reject(self, segment: Segment) -> Path:
        """Set a segment the database refuses aside (renamed `.rejected`, no longer counted or replayed)."""
        target = segment.path.with_suffix(REJECTED)
        segment.path.rename(target)
        with self._lock:
            self._nbytes = max(0, self._nbytes - segment.nbytes)
        return target
