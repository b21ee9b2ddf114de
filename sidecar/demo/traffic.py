"""The demo's traffic generator: a baseline phase, then a drifted phase, through the sidecar."""

from __future__ import annotations

import asyncio
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


async def send_traffic(
    base_url: str,
    *,
    requests: int = 2000,
    concurrency: int = 8,
    drift_after: float = 0.5,
    seed: int = 11,
    timeout: float = 120.0,
) -> TrafficResult:
    """Send `requests` predictions (single rows to /predict, batches to /invocations); drift after a share."""
    baseline = make_loans(requests * 3, seed=seed)
    drifted = make_loans(requests * 3, seed=seed + 1, shift=1.0)
    rng = random.Random(seed)
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
            frame = drifted if i >= requests * drift_after else baseline
            if rng.random() < 0.5:
                row = frame.iloc[i].to_dict()
                path, body, n = "/predict", orjson.dumps({k: row[k] for k in COLUMNS}), 1
            else:
                n = rng.randint(2, 8)
                part = frame.iloc[i * 3 : i * 3 + n]
                split = {
                    "columns": COLUMNS,
                    "data": part[COLUMNS].values.tolist(),
                }
                path, body = "/invocations", orjson.dumps({"dataframe_split": split})
            try:
                async with session.post(
                    base_url + path, data=body, headers={"Content-Type": "application/json"}
                ) as resp:
                    await resp.read()
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1
                    rows_sent += n
            except (aiohttp.ClientError, TimeoutError):
                failed += 1

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return TrafficResult(requests=requests, rows=rows_sent, failed=failed, statuses=statuses)
