"""Steady load for fault tests: clients that name every request and sort each outcome, bounded in count and time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Self

import aiohttp
import orjson

from tests.faults.procs import predict_body


class Load:
    """`workers` clients posting to `url` (each id `{prefix}-{n}`), optionally paced to `rate` requests/s in all.

    Every request ends up in exactly one of: `answered` (200, a complete prediction, its own request id),
    `refused` (a connection error before any response: not accepted) or `bad` (anything else, with why).
    """

    def __init__(
        self,
        url: str,
        prefix: str,
        *,
        workers: int = 8,
        rate: float | None = None,
        max_requests: int = 100_000,
        headers: dict[str, str] | None = None,
        body: Callable[[int], Any] = predict_body,
        stop_on_refusal: bool = False,
        request_timeout: float = 60.0,
    ) -> None:
        self.url, self.prefix, self.workers, self.rate = url, prefix, workers, rate
        self.max_requests, self.headers, self.body = max_requests, headers or {}, body
        self.stop_on_refusal = stop_on_refusal
        self.timeout = aiohttp.ClientTimeout(total=request_timeout)
        self.sent: list[str] = []
        self.answered: list[str] = []
        self.refused: dict[str, str] = {}
        self.bad: dict[str, str] = {}
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self.workers))
        self._tasks = [asyncio.create_task(self._worker(w)) for w in range(self.workers)]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.stop()
        for task in self._tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    def stop(self) -> None:
        """Send no further requests (those under way finish)."""
        self._stop.set()

    async def finish(self, timeout: float = 120.0) -> None:
        """Stop sending and wait for every request under way to end."""
        self.stop()
        await asyncio.wait_for(asyncio.gather(*self._tasks), timeout)

    async def complete(self, timeout: float = 120.0) -> None:
        """Wait until all `max_requests` requests have ended."""
        await asyncio.wait_for(asyncio.gather(*self._tasks), timeout)

    async def until_answered(self, count: int, timeout: float = 60.0) -> None:
        """Wait until `count` requests have been answered."""
        async with asyncio.timeout(timeout):
            while len(self.answered) < count:
                if all(t.done() for t in self._tasks):
                    raise AssertionError(f"load ended after {len(self.answered)} answers: {self.summary()}")
                await asyncio.sleep(0.01)

    @property
    def in_flight(self) -> int:
        """Requests sent and not ended yet."""
        return len(self.sent) - len(self.answered) - len(self.refused) - len(self.bad)

    def summary(self) -> str:
        """Counts, and the first few unexpected outcomes."""
        return (
            f"sent {len(self.sent)}, answered {len(self.answered)}, refused {len(self.refused)}, "
            f"bad {len(self.bad)} {dict(list(self.bad.items())[:5])}"
        )

    async def _worker(self, worker: int) -> None:
        assert self._http is not None
        interval = self.workers / self.rate if self.rate else 0.0
        due = time.monotonic() + worker * interval / self.workers
        while not self._stop.is_set() and len(self.sent) < self.max_requests:
            rid = f"{self.prefix}-{len(self.sent)}"
            self.sent.append(rid)
            if not await self._one(rid, len(self.sent) - 1) and self.stop_on_refusal:
                return
            if interval:
                due = max(due + interval, time.monotonic() - interval)
                await asyncio.sleep(max(0.0, due - time.monotonic()))

    async def _one(self, rid: str, n: int) -> bool:
        """Send one request and file its outcome; False when it was refused."""
        assert self._http is not None
        headers = {"X-Request-ID": rid, **self.headers}
        try:
            async with self._http.post(
                self.url, json=self.body(n), headers=headers, timeout=self.timeout
            ) as resp:
                data = await resp.read()
        except aiohttp.ClientPayloadError as exc:  # a response was started and cut short
            self.bad[rid] = f"incomplete response: {exc!r}"
            return True
        except aiohttp.ClientConnectionError as exc:
            self.refused[rid] = repr(exc)
            return False
        except TimeoutError:
            self.bad[rid] = "no answer within the client's timeout"
            return True
        try:
            ok = "prediction" in orjson.loads(data)
        except orjson.JSONDecodeError:
            ok = False
        if resp.status == 200 and ok and resp.headers.get("X-Request-ID") == rid:
            self.answered.append(rid)
        else:
            self.bad[rid] = f"{resp.status} {data[:200]!r}"
        return True
