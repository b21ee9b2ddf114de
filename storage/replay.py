"""Replaying spool segments into the store, each exactly once: the segment id is stored with its records."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from storage.errors import RecordsRejected
from storage.spool import Spool
from storage.store import RecordSink

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Replayed:
    """What replaying one segment did."""

    segment_id: str
    replayed: int
    """Records stored now; 0 when an earlier run had stored the segment but died before deleting it."""
    corrupt: int
    """Unreadable lines skipped."""
    rejected: int
    """Records of a segment the database refused; the file is set aside, not deleted."""


async def replay_oldest(
    spool: Spool, store: RecordSink, on_done: Callable[[Replayed], None] | None = None
) -> Replayed | None:
    """Seal what is open, then store and delete the oldest segment; None when the spool holds none.

    Blocking file work runs in a thread. `StoreUnavailable` propagates and leaves the segment in place.
    `on_done` is called with the outcome before the segment leaves the spool's byte count, so that counters
    read meanwhile (a /metrics scrape runs in a thread) never show the records neither spooled nor replayed.
    """
    if spool.has_unsealed:
        await asyncio.to_thread(spool.seal)
    segments = await asyncio.to_thread(spool.segments)
    if not segments:
        return None
    segment = segments[0]
    contents = await asyncio.to_thread(spool.read, segment)
    try:
        applied = await store.insert_segment(segment.id, contents.rows)
    except RecordsRejected as exc:
        refused = Replayed(segment.id, 0, contents.corrupt, len(contents.rows))
        if on_done is not None:
            on_done(refused)
        path = await asyncio.to_thread(spool.reject, segment)
        logger.error("record spool: segment refused by the store (%s); set aside as %s", exc, path)
        return refused
    done = Replayed(segment.id, len(contents.rows) if applied else 0, contents.corrupt, 0)
    if on_done is not None:
        on_done(done)
    # A crash here leaves a segment whose id is already stored: the next replay deletes it without inserting.
    await asyncio.to_thread(spool.ack, segment)
    if contents.corrupt:
        logger.warning("record spool: skipped %d unreadable lines in %s", contents.corrupt, segment.id)
    if not applied:
        logger.info("record spool: segment %s had been stored already; deleted it", segment.id)
    return done
