"""Window benchmark: `load_window` over 1M captured records with 12 features, from a fresh PostgreSQL database.

Records are inserted through `RecordStore.insert` (binary COPY on PostgreSQL) in batches, like the writer's;
then the whole window is loaded twice (before and after `ANALYZE`: autovacuum analyzes a table that grew
this much within a minute or so), and the newest 10k records once. While the big load runs, a ticker measures
how late the event loop gets (the parsing runs in a worker thread). Target: <= 10 s for the 1M-record window.
Run from the repository root: `python -m bench.window [--records 1000000] [--backends postgresql,sqlite]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from bench.ingest import DEFAULT_PG_URL, database
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.records import Record
from storage.store import RecordStore
from storage.windows import load_window

TARGET_SECONDS = 10.0
BATCH = 50_000
T0 = 1_764_000_000.0


def make_batch(start: int, n: int, features: int) -> list[Record]:
    """Records `start .. start + n`: `features` floats, a probability pair, 4 rows per request, 100/s."""
    return [
        Record(
            ts=T0 + i / 100,
            request_id=f"{i // 4:012x}",
            row=i % 4,
            route="/v2/models/{model}/infer",
            protocol="kserve_v2",
            status=200,
            latency_ms=3.0 + (i % 17) * 0.1,
            model="churn",
            model_version="7",
            features={f"f{j}": (i * 31 + j * 7) % 1000 / 7.0 for j in range(features)},
            prediction=[0.2 + (i % 5) * 0.1, 0.8 - (i % 5) * 0.1],
        )
        for i in range(start, start + n)
    ]


async def _ticker(worst: list[float], period: float = 0.01) -> None:
    """Record the worst lateness of a `period`-second sleep: how long the event loop was blocked."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + period
        await asyncio.sleep(period)
        worst[0] = max(worst[0], loop.time() - due)


async def bench(backend: str, url: str, args: argparse.Namespace) -> bool:
    """Fill one database, time the loads, print the figures; True when the full load meets the target."""
    engine = create_engine(url)
    try:
        await upgrade(engine)
        store = RecordStore(engine)
        started = time.perf_counter()
        for offset in range(0, args.records, BATCH):
            await store.insert(make_batch(offset, min(BATCH, args.records - offset), args.features))
        print(f"{backend}: inserted {args.records:,} records in {time.perf_counter() - started:.1f} s")
        loads = ["fresh table"]
        if backend == "postgresql":
            loads.append("after ANALYZE")
        seconds = float("inf")
        for label in loads:
            if label == "after ANALYZE":
                async with engine.begin() as conn:
                    await conn.execute(text("ANALYZE records"))
            gc.collect()
            worst = [0.0]
            ticker = asyncio.create_task(_ticker(worst))
            started = time.perf_counter()
            frame = await load_window(engine, model="churn", start=T0, end=T0 + args.records)
            seconds = time.perf_counter() - started
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            print(
                f"{backend}: load_window, {len(frame):,} rows x {frame.shape[1]} columns ({label}): {seconds:.2f} s, "
                f"{len(frame) / seconds:,.0f} rows/s; event loop blocked at most {worst[0] * 1000:.0f} ms"
            )
            del frame
        started = time.perf_counter()
        last = await load_window(engine, model="churn", last_n=10_000)
        print(
            f"{backend}: load_window(last_n=10,000): {time.perf_counter() - started:.2f} s ({len(last):,} rows)"
        )
        met = seconds <= TARGET_SECONDS * args.records / 1_000_000
        print(f"{backend}: target <= {TARGET_SECONDS:.0f} s per 1M records: {'met' if met else 'NOT met'}")
        return bool(met)
    finally:
        await engine.dispose()


async def main(args: argparse.Namespace) -> int:
    """Run the benchmark on each backend; exit status 1 when PostgreSQL misses the target."""
    ok = True
    with tempfile.TemporaryDirectory(prefix="driftcar-bench-window-") as workdir:
        for backend in args.backends.split(","):
            async with database(backend, args.pg_url, Path(workdir)) as url:
                met = await bench(backend, url, args)
                ok = ok and (met or backend != "postgresql")
    return 0 if ok else 1


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--records", type=int, default=1_000_000, help="records to insert (default 1,000,000)"
    )
    parser.add_argument("--features", type=int, default=12, help="features per record (default 12)")
    parser.add_argument("--backends", default="postgresql", help="comma-separated: postgresql,sqlite")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("DRIFTCAR_TEST_PG_URL", DEFAULT_PG_URL),
        help="PostgreSQL server to create the database on",
    )
    return parser.parse_args()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse_args())))
