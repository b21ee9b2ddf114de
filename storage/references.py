"""Reference data sets, versioned per monitor: stored as zstd Parquet, read back with their dtypes.

Versions are 1, 2, ... per monitor; `put_reference` takes the next one, and the unique (monitor, version)
constraint settles two writers racing for it (the loser retries with the version after). References are
immutable: a new reference is a new version, and the latest version is the one in effect.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

from sqlalchemy import func, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import frames
from storage.columns import LABEL, META_COLUMNS
from storage.errors import InvalidReference, NotFound, StoreUnavailable, translated
from storage.schema import reference_sets
from storage.windows import first_n_records, load_window

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

ReferenceSource = Literal["upload", "traffic", "first_n"]
_VERSION_ATTEMPTS = 10


@dataclass(frozen=True, slots=True)
class ReferenceInfo:
    """One stored reference set, without its data."""

    id: int
    monitor: str
    version: int
    created_at: float
    """Seconds since the epoch (UTC)."""
    source: ReferenceSource
    """`upload` (a file or frame), `traffic` (pinned from a window of records), `first_n` (the first records)."""
    n_rows: int
    columns: tuple[str, ...]
    dtypes: tuple[str, ...]
    """The pandas dtype of each column, in `columns` order."""
    note: str | None
    size_bytes: int
    """Size of the stored (compressed) Parquet data."""


_INFO_COLUMNS = (
    reference_sets.c.id,
    reference_sets.c.monitor,
    reference_sets.c.version,
    reference_sets.c.created_at,
    reference_sets.c.source,
    reference_sets.c.n_rows,
    reference_sets.c.columns,
    reference_sets.c.note,
    func.length(reference_sets.c.data).label("size_bytes"),
)


def _info(row: Any) -> ReferenceInfo:
    return ReferenceInfo(
        id=row.id,
        monitor=row.monitor,
        version=row.version,
        created_at=row.created_at,
        source=row.source,
        n_rows=row.n_rows,
        columns=tuple(c["name"] for c in row.columns),
        dtypes=tuple(c["dtype"] for c in row.columns),
        note=row.note,
        size_bytes=int(row.size_bytes),
    )


def _check_monitor(monitor: str) -> None:
    if not isinstance(monitor, str) or not monitor.strip():
        raise ValueError(f"monitor must be a non-empty string, got {monitor!r}")


def _model_columns(window: pd.DataFrame) -> pd.DataFrame:
    """A window without its record metadata (and without `label` when no record has one)."""
    drop = list(META_COLUMNS)
    if LABEL in window.columns and window[LABEL].isna().all():
        drop.append(LABEL)
    return window.drop(columns=drop)


class ReferenceStore:
    """Stores and reads the reference sets of monitors."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def put_reference(
        self, monitor: str, frame: pd.DataFrame, source: ReferenceSource = "upload", note: str | None = None
    ) -> ReferenceInfo:
        """Store `frame` as the monitor's next reference version; InvalidReference when it cannot be stored."""
        _check_monitor(monitor)
        if source not in get_args(ReferenceSource):
            raise ValueError(f"source must be one of {get_args(ReferenceSource)}, got {source!r}")
        frames.check_frame(frame)
        data = await asyncio.to_thread(frames.to_parquet, frame)  # validates every column before any write
        columns = frames.dtypes(frame)
        created_at = time.time()
        table = reference_sets.c
        # One statement reads the latest version and inserts the next: SQLite takes its write lock first, and
        # on PostgreSQL the unique (monitor, version) turns a concurrent writer's insert into a retry.
        next_version = select(
            literal(monitor, table.monitor.type),
            func.coalesce(func.max(table.version), 0) + 1,
            literal(created_at, table.created_at.type),
            literal(source, table.source.type),
            literal(len(frame), table.n_rows.type),
            literal(columns, table.columns.type),
            literal(note, table.note.type),
            literal(data, table.data.type),
        ).where(table.monitor == monitor)
        insert = (
            reference_sets.insert()
            .from_select(
                ["monitor", "version", "created_at", "source", "n_rows", "columns", "note", "data"],
                next_version,
            )
            .returning(table.id, table.version)
        )
        for _ in range(_VERSION_ATTEMPTS):
            with translated():
                try:
                    async with self._engine.begin() as conn:
                        row_id, version = (await conn.execute(insert)).one()
                except IntegrityError:
                    logger.debug("a reference version of %r was taken meanwhile; retrying", monitor)
                    continue
            logger.info("monitor %r: reference version %s stored (%d rows)", monitor, version, len(frame))
            return ReferenceInfo(
                id=int(row_id),
                monitor=monitor,
                version=int(version),
                created_at=created_at,
                source=source,
                n_rows=len(frame),
                columns=tuple(c["name"] for c in columns),
                dtypes=tuple(c["dtype"] for c in columns),
                note=note,
                size_bytes=len(data),
            )
        raise StoreUnavailable(
            f"monitor {monitor!r}: no free reference version after {_VERSION_ATTEMPTS} attempts"
        )

    async def get_reference(
        self, monitor: str, version: int | None = None
    ) -> tuple[ReferenceInfo, pd.DataFrame]:
        """The monitor's reference (the latest version by default) and its frame; NotFound when absent."""
        query = select(*_INFO_COLUMNS, reference_sets.c.data).where(reference_sets.c.monitor == monitor)
        if version is None:
            query = query.order_by(reference_sets.c.version.desc()).limit(1)
        else:
            query = query.where(reference_sets.c.version == version)
        with translated():
            async with self._engine.connect() as conn:
                row = (await conn.execute(query)).first()
        if row is None:
            which = "no reference" if version is None else f"no reference version {version}"
            raise NotFound(f"monitor {monitor!r} has {which}")
        return _info(row), await asyncio.to_thread(frames.from_parquet, row.data)

    async def list_references(self, monitor: str) -> list[ReferenceInfo]:
        """The monitor's references, newest version first (empty when it has none)."""
        query = (
            select(*_INFO_COLUMNS)
            .where(reference_sets.c.monitor == monitor)
            .order_by(reference_sets.c.version.desc())
        )
        with translated():
            async with self._engine.connect() as conn:
                return [_info(row) for row in await conn.execute(query)]

    async def pin_reference_from_traffic(
        self,
        monitor: str,
        start: float,
        end: float,
        *,
        model: str | None = None,
        model_version: str | None = None,
        route: str | None = None,
        features: Sequence[str] | None = None,
        note: str | None = None,
    ) -> ReferenceInfo:
        """Store the usable records with `start <= ts < end` as the monitor's next reference (`traffic`).

        The reference holds the window's features, prediction columns and labels (when any record has
        one), not the record metadata (ts, request_id, row).
        """
        window = await load_window(
            self._engine,
            model=model,
            model_version=model_version,
            route=route,
            start=start,
            end=end,
            features=features,
        )
        if window.empty:
            raise InvalidReference(
                f"no usable records with {start} <= ts < {end} to pin for monitor {monitor!r}"
            )
        note = note if note is not None else f"records with {start} <= ts < {end}"
        return await self.put_reference(monitor, _model_columns(window), "traffic", note)

    async def pin_reference_first_n(
        self,
        monitor: str,
        n: int,
        *,
        model: str | None = None,
        model_version: str | None = None,
        route: str | None = None,
        features: Sequence[str] | None = None,
        note: str | None = None,
        require_n: bool = False,
    ) -> ReferenceInfo:
        """Store the first `n` usable records as the monitor's next reference (`first_n`): the default one.

        With `require_n`, fewer than `n` usable records raise InvalidReference and store nothing.
        """
        window = await first_n_records(
            self._engine, n, model=model, model_version=model_version, route=route, features=features
        )
        if window.empty:
            raise InvalidReference(f"no usable records to pin for monitor {monitor!r}")
        if require_n and len(window) < n:
            raise InvalidReference(
                f"monitor {monitor!r}: only {len(window):,} of the first {n:,} records needed for the default "
                "reference have been captured"
            )
        note = note if note is not None else f"first {len(window)} records"
        return await self.put_reference(monitor, _model_columns(window), "first_n", note)
