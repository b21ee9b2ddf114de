"""The dedupe store on its own: claims, per-action progress, takeover of abandoned claims, retention."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alerts.consumer.dedupe import DedupeStore

T0 = 1_800_000_000.0


async def test_claim_done_and_duplicate(tmp_path: Path) -> None:
    store = await DedupeStore.open(tmp_path / "sub" / "d.db")
    try:
        first = await store.claim("k", T0, 60)
        assert (first.outcome, first.attempt, first.done) == ("new", 1, {})
        assert (await store.claim("k", T0 + 1, 60)).outcome == "busy"
        await store.finish("k", {"status": "done", "id": "k"}, T0 + 2)
        dup = await store.claim("k", T0 + 3, 60)
        assert (dup.outcome, dup.response) == ("duplicate", {"status": "done", "id": "k"})
    finally:
        await store.close()


async def test_a_failed_claim_is_retried_with_the_actions_already_done(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    store = await DedupeStore.open(path)
    await store.claim("k", T0, 60)
    await store.action_done("k", "first", {"action": "first", "outcome": "ok"}, T0 + 1)
    await store.fail("k", "action second failed", T0 + 2)
    assert await store.state("k") == "failed"
    await store.close()

    reopened = await DedupeStore.open(path)
    try:
        retry = await reopened.claim("k", T0 + 3, 60)
        assert (retry.outcome, retry.attempt) == ("new", 2)
        assert retry.done == {"first": {"action": "first", "outcome": "ok"}}
    finally:
        await reopened.close()


async def test_an_abandoned_claim_is_taken_over_after_the_timeout(tmp_path: Path) -> None:
    store = await DedupeStore.open(tmp_path / "d.db")
    try:
        await store.claim("k", T0, 60)
        assert (await store.claim("k", T0 + 59, 60)).outcome == "busy"
        taken = await store.claim("k", T0 + 61, 60)
        assert (taken.outcome, taken.attempt) == ("new", 2)
    finally:
        await store.close()


async def test_concurrent_claims_of_one_key_give_one_winner(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    stores = [await DedupeStore.open(path) for _ in range(3)]  # as if three processes shared the file
    try:
        claims = await asyncio.gather(*(s.claim("k", T0, 60) for s in stores for _ in range(4)))
        assert sorted(c.outcome for c in claims) == ["busy"] * 11 + ["new"]
    finally:
        for s in stores:
            await s.close()


async def test_purge_forgets_old_keys_only(tmp_path: Path) -> None:
    store = await DedupeStore.open(tmp_path / "d.db")
    try:
        await store.claim("old", T0, 60)
        await store.action_done("old", "a", {}, T0)
        await store.finish("old", {}, T0 + 1)
        await store.claim("new", T0 + 100, 60)
        await store.finish("new", {}, T0 + 101)
        assert await store.purge(T0 + 50) == 1
        assert await store.state("old") is None
        assert await store.state("new") == "done"
        assert (await store.claim("old", T0 + 200, 60)).outcome == "new"
    finally:
        await store.close()
