"""Ingest benchmark: records/s into SQLite and PostgreSQL, through `RecordStore.insert` and the `BatchWriter`.

    .venv/bin/python bench/ingest.py [--records 200000] [--features 12] [--backends sqlite,postgresql]

SQLite goes to a temporary file; PostgreSQL to a database created for the run (next to `--pg-url`, default
$DRIFTCAR_TEST_PG_URL or the local server) and dropped afterwards. Each stage is bounded by `--stage-timeout`.
Stages: `RecordStore.insert` in batches; the BatchWriter end to end (submit in request-sized chunks, close,
count) with a queue that holds the burst; the same with the default queue, so that the overflow goes through
the spool and is replayed before close returns (reported, not held to the target).
Targets: >= 50k records/s into SQLite, >= 100k records/s into PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from sqlalchemy import delete
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from storage.engine import create_engine, redacted_url
from storage.migrate import upgrade
from storage.records import Record
from storage.schema import records as records_table
from storage.spool import Spool
from storage.store import RecordStore
from storage.writer import BatchWriter

TARGETS = {"sqlite": 50_000, "postgresql": 100_000}
DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
MAX_RECORDS = 2_000_000


def make_records(n: int, features: int) -> list[Record]:
    """Records shaped like tabular traffic: `features` floats, a probability pair, metadata."""
    now = time.time()
    return [
        Record(
            ts=now + i * 1e-4,
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
        for i in range(n)
    ]


@asynccontextmanager
async def database(backend: str, pg_url: str, workdir: Path) -> AsyncIterator[str]:
    """A fresh database URL for one backend, removed afterwards."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        return
    admin_dsn = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(admin_dsn, timeout=5)
    name = f"driftcar_bench_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def timed(stage: Callable[[], Awaitable[None]], limit: float) -> tuple[float, float]:
    """Wall seconds and this process's CPU seconds (all threads) that `stage` took; fail past `limit`."""
    start, cpu = time.perf_counter(), time.process_time()
    async with asyncio.timeout(limit):
        await stage()
    return time.perf_counter() - start, time.process_time() - cpu


async def bench_backend(backend: str, url: str, batch: list[Record], args: argparse.Namespace) -> list[float]:
    """Run both stages on one backend, printing a line each; return their rates (records/s)."""
    engine = create_engine(url)
    store = RecordStore(engine)
    rates: list[float] = []
    try:
        await upgrade(engine)

        async def direct() -> None:
            for i in range(0, len(batch), args.batch_size):
                await store.insert(batch[i : i + args.batch_size])

        async def end_to_end(max_queue_records: int) -> None:
            spool = Spool(Path(args.workdir) / f"spool-{backend}")
            writer = BatchWriter(
                store,
                spool,
                max_queue_records=max_queue_records,
                max_queue_bytes=1 << 40,
                batch_size=args.batch_size,
                flush_interval=0.05,
            )
            async with writer:
                for i in range(0, len(batch), args.chunk):
                    writer.submit(batch[i : i + args.chunk], 100 * args.chunk)
                    if i % (args.chunk * 50) == 0:
                        await asyncio.sleep(0)  # as request handlers would, let the drain task run
            stats = writer.stats()
            if stats.dropped or stats.accepted != len(batch):
                raise RuntimeError(f"writer lost records: {stats}")
            spooled.append(stats.spooled)

        spooled: list[int] = []
        stages = (
            ("RecordStore.insert", direct),
            ("BatchWriter e2e", lambda: end_to_end(len(batch))),  # the queue holds the burst
            ("BatchWriter+spool", lambda: end_to_end(args.queue)),  # overflow goes through the spool
        )
        for label, stage in stages:
            async with engine.begin() as conn:
                await conn.execute(delete(records_table))
            seconds, cpu = await timed(stage, args.stage_timeout)
            stored = await store.count()
            if stored != len(batch):
                raise RuntimeError(f"{backend} {label}: stored {stored} of {len(batch)}")
            rate = len(batch) / seconds
            note = f"  ({spooled[-1]:,} via the spool)" if label.endswith("spool") else ""
            if not note:
                rates.append(rate)  # the spool stage is reported, not held to the target
            print(
                f"{backend:<11} {label:<18} {seconds:6.2f} s {rate:>9,.0f} rec/s {rate / TARGETS[backend]:5.2f}x"
                f" target | client CPU {cpu / len(batch) * 1e6:4.1f} us/rec{note}",
                flush=True,
            )
    finally:
        await engine.dispose()
    return rates


async def main(args: argparse.Namespace) -> int:
    """Run the benchmark; exit status 1 when any figure misses its target."""
    if not 1 <= args.records <= MAX_RECORDS:
        raise SystemExit(f"--records must be within 1..{MAX_RECORDS}")
    batch = make_records(args.records, args.features)
    gc.freeze()  # the input is long-lived: keep the collector from rescanning it on every cycle
    print(
        f"{args.records:,} records of {args.features} features; batch size {args.batch_size}; targets "
        f"{', '.join(f'{b} {t:,}/s' for b, t in TARGETS.items())}; load average {os.getloadavg()[0]:.1f}"
    )
    ratios: list[float] = []
    with tempfile.TemporaryDirectory(prefix="driftcar-bench-") as workdir:
        args.workdir = workdir
        for backend in args.backends.split(","):
            if backend not in TARGETS:
                raise SystemExit(f"unknown backend {backend!r}; use sqlite and/or postgresql")
            if backend == "postgresql":
                print(f"postgresql at {redacted_url(args.pg_url)}", flush=True)
            async with database(backend, args.pg_url, Path(workdir)) as url:
                ratios += [rate / TARGETS[backend] for rate in await bench_backend(backend, url, batch, args)]
    return 0 if min(ratios) >= 1 else 1


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=5_000)
    parser.add_argument("--chunk", type=int, default=10, help="records per submit (one request's rows)")
    parser.add_argument("--queue", type=int, default=100_000, help="queue bound of the spool stage")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=os.environ.get("DRIFTCAR_TEST_PG_URL", DEFAULT_PG_URL))
    parser.add_argument("--stage-timeout", type=float, default=120.0, help="seconds allowed per stage")
    return parser.parse_args()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse_args())))
