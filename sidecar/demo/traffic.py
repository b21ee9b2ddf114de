"""The demo's traffic generator: prediction requests through the sidecar, like the training data or drifted."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from dataclasses import dataclass

import aiohttp
import orjson

from sidecar.demo.dataset import make_loans
from sidecar.demo.model_server import MODEL_FEATURES

logger = logging.getLogger(__name__)
COLUMNS = [*MODEL_FEATURES, "sex"]


@dataclass(frozen=True, slots=True)
class TrafficResult:
    """What the generator sent and how it went."""

    requests: int
    rows: int
    failed: int
    statuses: dict[int, int]


def plan(requests: int, seed: int = 11) -> list[int]:
    """Rows per request, in order: half single rows (to /predict), half batches of 2 to 8 (to /invocations)."""
    rng = random.Random(seed)
    return [1 if rng.random() < 0.5 else rng.randint(2, 8) for _ in range(requests)]


async def send_traffic(
    base_url: str,
    *,
    requests: int = 2000,
    concurrency: int = 8,
    drifted: bool = False,
    seed: int = 11,
    timeout: float = 120.0,
) -> TrafficResult:
    """Send `requests` predictions as `plan` lays them out, each with rows of its own; `drifted`: lower
    incomes, more debt and shifted regions."""
    sizes = plan(requests, seed)
    frame = make_loans(sum(sizes), seed=seed + 1 if drifted else seed, shift=1.0 if drifted else 0.0)
    starts = [0, *itertools.accumulate(sizes)]
    statuses: dict[int, int] = {}
    rows_sent = 0
    failed = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal rows_sent, failed
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            part = frame.iloc[starts[i] : starts[i] + sizes[i]][COLUMNS]
            if sizes[i] == 1:
                row = part.iloc[0].to_dict()
                path, body = "/predict", orjson.dumps({k: row[k] for k in COLUMNS})
            else:
                split = {"columns": COLUMNS, "data": part.values.tolist()}
                path, body = "/invocations", orjson.dumps({"dataframe_split": split})
            try:
                async with session.post(
                    base_url + path, data=body, headers={"Content-Type": "application/json"}
                ) as resp:
                    await resp.read()
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1
                    rows_sent += sizes[i]
            except (aiohttp.ClientError, TimeoutError):
                failed += 1

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return TrafficResult(requests=requests, rows=rows_sent, failed=failed, statuses=statuses)
