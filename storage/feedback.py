"""Ground truth: one label per captured instance (request_id, row), joined into windows as `label`.

A label sent again for the same instance replaces the earlier one (an upsert on both backends; within one
batch the last item wins). Labels are JSON values: a class, a number, a string, a list or an object, never
null and never a non-finite number.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.codec import clean_text
from storage.errors import InvalidFeedback, translated
from storage.schema import feedback

_FIELDS = frozenset({"request_id", "row", "label", "received_at"})
_MAX_DEPTH = 16


@dataclass(frozen=True, slots=True)
class FeedbackItem:
    """The true label of one captured instance."""

    request_id: str
    label: Any
    row: int = 0
    """Index of the instance within its request's batch, as in `Record.row`."""
    received_at: float | None = None
    """Seconds since the epoch; None means now."""


def _check_label(value: Any, depth: int = 0) -> None:
    if depth > _MAX_DEPTH:
        raise ValueError(f"nested deeper than {_MAX_DEPTH} levels")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} is not a finite number")
    if isinstance(value, (str, bool, int, float)):
        return
    if isinstance(value, list):
        for item in value:
            _check_label(item, depth + 1)
        return
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        for item in value.values():
            _check_label(item, depth + 1)
        return
    raise ValueError(f"{type(value).__name__} is not a JSON value")


def _validate(index: int, item: FeedbackItem | Mapping[str, Any], now: float) -> dict[str, Any]:
    """The item as column values; InvalidFeedback names the item (0-based) and the field at fault."""
    if isinstance(item, FeedbackItem):
        fields: dict[str, Any] = {
            "request_id": item.request_id,
            "row": item.row,
            "label": item.label,
            "received_at": item.received_at,
        }
    elif isinstance(item, Mapping):
        unknown = sorted(map(str, set(item) - _FIELDS))
        if unknown:
            raise InvalidFeedback(f"item {index}: unknown field(s) {', '.join(unknown)}")
        fields = {"row": 0, "received_at": None, **item}
    else:
        raise InvalidFeedback(f"item {index}: expected an object, got {type(item).__name__}")
    request_id, row, label, received_at = (
        fields.get(k) for k in ("request_id", "row", "label", "received_at")
    )
    if not isinstance(request_id, str) or not request_id:
        raise InvalidFeedback(f"item {index}: request_id must be a non-empty string")
    if isinstance(row, bool) or not isinstance(row, int) or not 0 <= row < 2**31:
        raise InvalidFeedback(f"item {index}: row must be an integer >= 0, got {row!r}")
    if label is None:
        raise InvalidFeedback(f"item {index}: label is missing or null")
    try:
        _check_label(label)
    except ValueError as exc:
        raise InvalidFeedback(f"item {index}: label: {exc}") from None
    if received_at is None:
        received_at = now
    elif (
        isinstance(received_at, bool)
        or not isinstance(received_at, (int, float))
        or not math.isfinite(received_at)
    ):
        raise InvalidFeedback(f"item {index}: received_at must be a finite epoch time, got {received_at!r}")
    return {
        "request_id": clean_text(request_id),
        "row": row,
        "label": label,
        "received_at": float(received_at),
    }


class FeedbackStore:
    """Stores and reads ground-truth labels."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add_feedback(self, items: Iterable[FeedbackItem | Mapping[str, Any]]) -> int:
        """Validate every item, then store them in one transaction; return how many instances got a label.

        Nothing is stored when any item is invalid (InvalidFeedback). An instance repeated in the batch
        counts once, with its last label.
        """
        now = time.time()
        latest: dict[tuple[str, int], dict[str, Any]] = {}
        for index, item in enumerate(items):
            values = _validate(index, item, now)
            latest[(values["request_id"], values["row"])] = values
        if not latest:
            return 0
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        upsert = dialect.insert(feedback)
        upsert = upsert.on_conflict_do_update(
            index_elements=[feedback.c.request_id, feedback.c.row],
            set_={"label": upsert.excluded.label, "received_at": upsert.excluded.received_at},
        )
        with translated():
            async with self._engine.begin() as conn:
                await conn.execute(upsert, list(latest.values()))
        return len(latest)

    async def get_label(self, request_id: str, row: int = 0) -> Any:
        """The stored label of one instance, or None."""
        query = select(feedback.c.label).where(feedback.c.request_id == request_id, feedback.c.row == row)
        with translated():
            async with self._engine.connect() as conn:
                return (await conn.execute(query)).scalar_one_or_none()
