"""`cancel_and_wait`: a background loop is stopped and has ended when it returns; nothing to stop is fine; an
error the task had already ended with is not hidden."""

from __future__ import annotations

import asyncio

import pytest

from sidecar.tasks import cancel_and_wait


async def test_a_running_loop_is_cancelled_and_has_ended() -> None:
    started = asyncio.Event()
    ended: list[str] = []

    async def loop() -> None:
        started.set()
        try:
            await asyncio.Event().wait()  # never set: only cancellation ends it
        finally:
            ended.append("cleaned up")

    task = asyncio.create_task(loop())
    await started.wait()
    await cancel_and_wait(task)
    assert task.cancelled() and ended == ["cleaned up"]


async def test_no_task_and_a_finished_task_are_fine() -> None:
    await cancel_and_wait(None)

    async def quick() -> None:
        return None

    task = asyncio.create_task(quick())
    await task
    await cancel_and_wait(task)
    assert task.done() and not task.cancelled()


async def test_an_error_the_task_ended_with_is_raised() -> None:
    async def broken() -> None:
        raise RuntimeError("refresh failed")

    task = asyncio.create_task(broken())
    await asyncio.wait([task])
    with pytest.raises(RuntimeError, match="refresh failed"):
        await cancel_and_wait(task)
