"""The writer's in-memory queue: a FIFO of submitted chunks with record and byte totals."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from storage.records import Record


class RecordBuffer:
    """FIFO of records. `take` removes a batch; `push_front` returns what could not be stored or spooled.

    Byte sizes are the submitter's estimates per chunk; a chunk split by `take` keeps its share pro rata.
    """

    def __init__(self) -> None:
        self._chunks: deque[tuple[Sequence[Record], int]] = deque()
        self.records = 0
        """Records queued."""
        self.nbytes = 0
        """Estimated bytes queued."""

    def __len__(self) -> int:
        return self.records

    def push(self, chunk: Sequence[Record], nbytes: int) -> None:
        """Queue a chunk of records with its estimated size at the tail."""
        if chunk:
            self._chunks.append((chunk, nbytes))
            self.records += len(chunk)
            self.nbytes += nbytes

    def push_front(self, chunk: Sequence[Record], nbytes: int) -> None:
        """Put records back at the head (they were taken but not stored), ahead of everything queued."""
        if chunk:
            self._chunks.appendleft((chunk, nbytes))
            self.records += len(chunk)
            self.nbytes += nbytes

    def take(self, limit: int) -> tuple[list[Record], int]:
        """Remove and return the oldest records, at most `limit`, with their estimated bytes."""
        taken: list[Record] = []
        nbytes = 0
        while self._chunks and len(taken) < limit:
            chunk, size = self._chunks[0]
            room = limit - len(taken)
            if len(chunk) <= room:
                self._chunks.popleft()
                taken.extend(chunk)
                nbytes += size
                continue
            share = size * room // len(chunk)
            taken.extend(chunk[:room])
            self._chunks[0] = (chunk[room:], size - share)
            nbytes += share
        self.records -= len(taken)
        self.nbytes -= nbytes
        return taken, nbytes
