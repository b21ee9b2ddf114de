"""KServe logger ingestion: events/s into `POST /ingest/kserve` and records/s stored, on SQLite.

    .venv/bin/python -m bench.kserve_ingest [--pairs 2000] [--rows 4] [--connections 8] [--timeout 120]

A real sidecar (SQLite in a temporary directory) takes `--pairs` request/response pairs of KServe V1 events
(each request carrying `--rows` instances), posted by `--connections` concurrent clients in the same process
(client and server share the CPU, as on the 2-core test machine). Printed: events/s accepted, the 202's p50
and p99 latency, the time until every record is stored, and the process CPU per event (client included).
Bounded by `--pairs` and `--timeout`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson

from sidecar.server import Sidecar
from sidecar.settings import Settings

REQUEST = "org.kubeflow.serving.inference.request"
RESPONSE = "org.kubeflow.serving.inference.response"


def _events(pairs: int, rows: int) -> list[tuple[dict[str, str], bytes]]:
    """Request then response for each pair, as KServe's agent posts them."""
    instances = orjson.dumps({"instances": [[5.1, 3.5, 1.4, 0.2]] * rows})
    predictions = orjson.dumps({"predictions": [0] * rows})
    out: list[tuple[dict[str, str], bytes]] = []
    for i in range(pairs):
        for kind, body in ((REQUEST, instances), (RESPONSE, predictions)):
            headers = {
                "Ce-Specversion": "1.0",
                "Ce-Id": f"bench-{i}",
                "Ce-Source": "http://localhost:9081/",
                "Ce-Type": kind,
                "Ce-Time": "2026-11-25T10:00:00.000000000Z",
                "Ce-Inferenceservicename": "sklearn-iris",
                "Ce-Namespace": "default",
                "Ce-Component": "predictor",
                "Content-Type": "application/json",
            }
            out.append((headers, body))
    return out


async def _run(args: argparse.Namespace, workdir: Path) -> None:
    settings = Settings.model_validate(
        {
            "upstream": "http://127.0.0.1:9",
            "host": "127.0.0.1",
            "port": 0,
            "admin_port": 0,
            "database_url": f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
            "capture": {"spool_dir": str(workdir / "spool")},
        }
    )
    sidecar = Sidecar(settings)
    await sidecar.start()
    url = f"http://127.0.0.1:{sidecar.admin_port}/ingest/kserve"
    events = _events(args.pairs, args.rows)
    latencies: list[float] = []
    queue: asyncio.Queue[tuple[dict[str, str], bytes]] = asyncio.Queue()
    for item in events:
        queue.put_nowait(item)

    async def client(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            headers, body = queue.get_nowait()
            start = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                if resp.status != 202:
                    raise RuntimeError(f"status {resp.status}")
            latencies.append(time.perf_counter() - start)

    try:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        async with aiohttp.ClientSession() as session:
            await asyncio.wait_for(
                asyncio.gather(*(client(session) for _ in range(args.connections))), args.timeout
            )
        posted = time.perf_counter() - wall0
        expected = args.pairs * args.rows
        deadline = time.perf_counter() + args.timeout
        while sidecar.app_writer_stats().written < expected and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        stored = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        written = sidecar.app_writer_stats().written
    finally:
        await sidecar.stop()
    quantiles = statistics.quantiles(latencies, n=100)
    print(f"events posted      {len(events):8d} in {posted:.2f} s = {len(events) / posted:8.0f} events/s")
    print(f"202 latency        p50 {quantiles[49] * 1000:.2f} ms   p99 {quantiles[98] * 1000:.2f} ms")
    print(
        f"records stored     {written:8d} of {expected} after {stored:.2f} s = {written / stored:8.0f} records/s"
    )
    print(
        f"process CPU        {cpu / len(events) * 1e6:8.0f} us per event (client, server and SQLite together)"
    )


def main() -> None:
    """Parse the options, run once, print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=4)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_run(args, Path(tmp)))


if __name__ == "__main__":
    main()
