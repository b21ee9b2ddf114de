"""Replaying spool segments into the store, each exactly once: the segment id is stored with its records."""

from __future__ import annotations

import asyncio
import logging
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


async def replay_oldest(spool: Spool, store: RecordSink) -> Replayed | None:
    """Seal what is open, then store and delete the oldest segment; None when the spool holds none.

    Blocking file work runs in a thread. `StoreUnavailable` propagates and leaves the segment in place.
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
        path = await asyncio.to_thread(spool.reject, segment)
        logger.error("record spool: segment refused by the store (%s); set aside as %s", exc, path)
        return Replayed(segment.id, 0, contents.corrupt, len(contents.rows))
    # A crash here leaves a segment whose id is already stored: the next replay deletes it without inserting.
    await asyncio.to_thread(spool.ack, segment)
    if contents.corrupt:
        logger.warning("record spool: skipped %d unreadable lines in %s", contents.corrupt, segment.id)
    if not applied:
        logger.info("record spool: segment %s had been stored already; deleted it", segment.id)
    return Replayed(segment.id, len(contents.rows) if applied else 0, contents.corrupt, 0)
