"""Operational rules on real databases: error rate and p99 latency over every captured record of the window,
failed requests included (the report itself only sees the successful ones)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.store import AlertStore
from sidecar.monitors.config import MonitorConfig
from sidecar.monitors.runner import MonitorRunner
from storage.records import Record
from storage.references import ReferenceStore
from storage.store import RecordStore
from storage.windows import operational_figures

T0 = 1_790_000_000.0


def _records(n: int, start: float, *, failed_every: int, slow_every: int) -> list[Record]:
    rng = np.random.default_rng(int(start) % 991)
    out = []
    for i in range(n):
        failed = failed_every and i % failed_every == 0
        out.append(
            Record(
                ts=start + i,
                request_id=f"r{int(start)}-{i}",
                row=0,
                route="/predict",
                protocol="generic",
                status=500 if failed else 200,
                latency_ms=900.0 if slow_every and i % slow_every == 0 else 10.0 + i % 7,
                model="m",
                model_version="1",
                features=None if failed else {"x0": float(rng.normal()), "x1": float(rng.normal())},
                prediction=None if failed else int(rng.integers(0, 2)),
                error="upstream returned 500" if failed else None,
            )
        )
    return out


async def test_figures_count_failed_records_and_take_the_p99(migrated_engine: AsyncEngine) -> None:
    await RecordStore(migrated_engine).insert(_records(1000, T0, failed_every=10, slow_every=50))
    total, failed, p99 = await operational_figures(migrated_engine, start=T0, end=T0 + 1000, model="m")
    assert (total, failed) == (1000, 100)
    latencies = np.array([r.latency_ms for r in _records(1000, T0, failed_every=10, slow_every=50)])
    assert p99 == float(np.percentile(latencies, 99))
    assert await operational_figures(migrated_engine, start=T0, end=T0 + 1000, model="other") == (0, 0, None)


async def test_error_rate_and_latency_rules_fire_on_the_window(migrated_engine: AsyncEngine) -> None:
    store = RecordStore(migrated_engine)
    await store.insert(_records(400, T0, failed_every=0, slow_every=0))  # steady
    await store.insert(_records(400, T0 + 400, failed_every=5, slow_every=20))  # 20% errors, 5% slow
    rng = np.random.default_rng(3)
    reference = pd.DataFrame(
        {"x0": rng.normal(size=300), "x1": rng.normal(size=300), "prediction": rng.integers(0, 2, 300)}
    )
    await ReferenceStore(migrated_engine).put_reference("ops", reference)
    monitor = MonitorConfig.model_validate(
        {
            "name": "ops",
            "window": {"minutes": 400 / 60},
            "schedule": {"every": 60},
            "min_rows": 50,
            "alerts": [
                {"name": "errors", "when": "error_rate", "above": 0.05, "severity": "critical"},
                {"name": "slow", "when": "latency_p99", "above": 500, "action": "redeploy"},
            ],
        }
    )
    runner = MonitorRunner(migrated_engine, replica="test")
    alerts = AlertStore(migrated_engine)

    steady = await runner.run(monitor, T0 + 400)
    assert steady.status == "ok"
    assert {a.rule: a.status for a in await alerts.states("ops")} == {
        "errors": "resolved",
        "slow": "resolved",
    }

    bad = await runner.run(monitor, T0 + 800)
    assert (
        bad.status == "ok" and bad.run is not None and bad.run.n_rows == 320
    )  # failed requests: no features
    states = {a.rule: a for a in await alerts.states("ops")}
    assert states["errors"].status == "firing" and states["slow"].status == "firing"
    (errors,) = states["errors"].details or []
    assert errors["value"] == 0.2 and errors["records"] == 400 and errors["errors"] == 80
    (slow,) = states["slow"].details or []
    assert slow["value"] == 900.0 and "p99 latency 900.0 ms over 400 requests" in slow["message"]
    assert [a.rule for a in await alerts.states("ops", "firing", "critical")] == ["errors"]
