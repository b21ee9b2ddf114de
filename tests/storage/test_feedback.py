"""Feedback: validated labels, upserted on both backends (the later label wins), deleted by age."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.errors import InvalidFeedback
from storage.feedback import FeedbackItem, FeedbackStore
from storage.retention import delete_feedback_older_than
from storage.schema import feedback


async def _rows(engine: AsyncEngine) -> list[tuple[str, int, Any, float]]:
    query = select(feedback).order_by(feedback.c.request_id, feedback.c.row)
    async with engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(query)]


async def test_add_and_upsert(migrated_engine: AsyncEngine) -> None:
    store = FeedbackStore(migrated_engine)
    added = await store.add_feedback(
        [
            FeedbackItem("a", 1, received_at=10.0),
            FeedbackItem("a", 0, row=1, received_at=10.0),
            {"request_id": "b", "label": {"class": "x", "scores": [0.5, 1]}, "received_at": 11},
        ]
    )
    assert added == 3
    assert await _rows(migrated_engine) == [
        ("a", 0, 1, 10.0),
        ("a", 1, 0, 10.0),
        ("b", 0, {"class": "x", "scores": [0.5, 1]}, 11.0),
    ]
    # A later label replaces the earlier one; within a batch the last item wins and counts once.
    again = await store.add_feedback(
        [FeedbackItem("a", "first", received_at=20.0), FeedbackItem("a", "second", received_at=21.0)]
    )
    assert again == 1
    assert await store.get_label("a") == "second"
    assert await store.get_label("a", row=1) == 0
    assert await store.get_label("missing") is None
    assert (await _rows(migrated_engine))[0] == ("a", 0, "second", 21.0)
    assert await store.add_feedback([]) == 0


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"label": 1}, "item 1: request_id must be a non-empty string"),
        ({"request_id": "", "label": 1}, "item 1: request_id must be a non-empty string"),
        ({"request_id": "r", "row": -1, "label": 1}, "item 1: row must be an integer >= 0, got -1"),
        ({"request_id": "r", "row": True, "label": 1}, "item 1: row must be an integer >= 0, got True"),
        ({"request_id": "r", "row": 1.5, "label": 1}, "item 1: row must be an integer"),
        ({"request_id": "r"}, "item 1: label is missing or null"),
        ({"request_id": "r", "label": None}, "item 1: label is missing or null"),
        ({"request_id": "r", "label": float("nan")}, "item 1: label: nan is not a finite number"),
        ({"request_id": "r", "label": [1, float("inf")]}, "item 1: label: inf is not a finite number"),
        ({"request_id": "r", "label": {1: "x"}}, "item 1: label: dict is not a JSON value"),
        ({"request_id": "r", "label": b"x"}, "item 1: label: bytes is not a JSON value"),
        ({"request_id": "r", "label": 1, "received_at": "now"}, "item 1: received_at must be a finite epoch"),
        ({"request_id": "r", "label": 1, "colour": "red"}, "item 1: unknown field\\(s\\) colour"),
        ("r", "item 1: expected an object, got str"),
    ],
)
async def test_invalid_items_store_nothing(migrated_engine: AsyncEngine, item: Any, message: str) -> None:
    store = FeedbackStore(migrated_engine)
    with pytest.raises(InvalidFeedback, match=message):
        await store.add_feedback([FeedbackItem("ok", 1), item])
    assert await _rows(migrated_engine) == []


async def test_delete_old_feedback_in_batches(migrated_engine: AsyncEngine) -> None:
    store = FeedbackStore(migrated_engine)
    await store.add_feedback([FeedbackItem(f"r{i}", i, row=i % 3, received_at=100.0 + i) for i in range(10)])
    assert await delete_feedback_older_than(migrated_engine, 107.0, batch_size=3) == 7
    async with migrated_engine.connect() as conn:
        left = (await conn.execute(select(func.count()).select_from(feedback))).scalar_one()
    assert left == 3
    assert await delete_feedback_older_than(migrated_engine, 107.0) == 0
