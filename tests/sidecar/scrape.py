"""Helpers for tests that read the admin API: a parsed `/metrics` scrape and bounded polling."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from sidecar.server import Sidecar
from tests.sidecar.conftest import admin_url

REQUESTS = "driftcar_request_duration_seconds_count"


@dataclass(frozen=True)
class Scrape:
    """One `/metrics` exposition, parsed by prometheus_client's own parser."""

    families: frozenset[str]
    samples: tuple[Sample, ...]

    def value(self, name: str, **labels: str) -> float:
        """Sum of the samples called `name` whose labels include `labels` (0.0 when there are none)."""
        return sum(
            s.value
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )

    def label_values(self, name: str, label: str) -> set[str]:
        """Every value `label` takes among the samples called `name`."""
        return {s.labels[label] for s in self.samples if s.name == name and label in s.labels}


async def scrape(http: aiohttp.ClientSession, sidecar: Sidecar) -> Scrape:
    """GET /metrics and parse it."""
    async with http.get(admin_url(sidecar, "/metrics")) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    return parse(text)


def parse(text: str) -> Scrape:
    """A Prometheus text exposition, parsed."""
    families = list(text_string_to_metric_families(text))
    return Scrape(frozenset(f.name for f in families), tuple(s for f in families for s in f.samples))


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Poll `check` until it is true; fail after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.02)


async def scrape_when(
    http: aiohttp.ClientSession, sidecar: Sidecar, done: Callable[[Scrape], bool], timeout: float = 10.0
) -> Scrape:
    """Scrape until `done(scrape)` holds (the writer and the parser run behind the proxy); return that scrape."""
    latest: list[Scrape] = []

    async def check() -> bool:
        latest[:] = [await scrape(http, sidecar)]
        return done(latest[0])

    try:
        await eventually(check, timeout)
    except TimeoutError:
        counters = sorted(
            f"{s.name}{s.labels or ''}={s.value:g}"
            for s in (latest[0].samples if latest else ())
            if s.name.startswith("driftcar_") and not s.name.endswith(("_bucket", "_sum", "_created"))
        )
        raise AssertionError(f"not reached within {timeout}s; last scrape:\n" + "\n".join(counters)) from None
    return latest[0]
