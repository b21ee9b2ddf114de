"""Admin routes of the monitors: listing, on-demand runs, reports, references and ground truth.

GET  /api/monitors                             monitors with their config, next run and latest run
GET  /api/monitors/{name}                      one monitor
POST /api/monitors/{name}/run[?from=&to=&wait=] run now (waits for the result unless wait=false)
GET  /api/monitors/{name}/runs[?limit=&status=] its runs, newest first
GET  /api/monitors/{name}/reports/latest       the newest finished report: run, summary and links
GET  /api/monitors/{name}/references           its reference versions
POST /api/monitors/{name}/references[?note=]   a new reference version: a CSV, JSON-lines or Parquet body,
                                               or JSON {"from": T, "to": T} to pin captured traffic
POST /api/feedback                             ground truth: {"labels": [{"request_id", "row", "label"}]}
GET  /reports                                  the HTML index of every monitor's runs
GET  /reports/{id}                             a run's HTML report (Evidently + driftcar's sections)
GET  /reports/{id}.json                        a run's summary
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from sidecar.errors import BadRequest, NotFound
from sidecar.monitors.config import MonitorConfig
from sidecar.monitors.keys import FEEDBACK, RUNNER, SCHEDULER
from sidecar.monitors.runner import RunOutcome
from sidecar.timeparse import parse_time
from storage.errors import InvalidFeedback, InvalidReference
from storage.errors import NotFound as StoreNotFound
from storage.runs import RunInfo

logger = logging.getLogger(__name__)

MAX_REFERENCE_BYTES = 1 << 30
MAX_RUNS_LISTED = 500
_UPLOAD_SUFFIX = {
    "text/csv": ".csv",
    "application/csv": ".csv",
    "application/x-ndjson": ".jsonl",
    "application/jsonl": ".jsonl",
    "application/jsonlines": ".jsonl",
    "application/x-jsonlines": ".jsonl",
    "application/vnd.apache.parquet": ".parquet",
    "application/x-parquet": ".parquet",
}


def _json(data: object, status: int = 200) -> web.Response:
    from sidecar.admin import json_response

    return json_response(data, status)


def _monitor(request: web.Request) -> MonitorConfig:
    from sidecar.app import SETTINGS

    name = request.match_info["name"]
    monitor = request.app[SETTINGS].monitor(name)
    if monitor is None:
        raise NotFound(f"no monitor named {name!r}")
    return monitor


def _links(request: web.Request, run: RunInfo) -> dict[str, str | None]:
    return {
        "html": f"/reports/{run.id}" if run.has_html else None,
        "json": f"/reports/{run.id}.json",
    }


def run_json(request: web.Request, run: RunInfo) -> dict[str, Any]:
    """A run as the API shows it: its fields and links to its reports."""
    return {**asdict(run), "links": _links(request, run)}


def _describe(monitor: MonitorConfig) -> dict[str, Any]:
    return monitor.model_dump(mode="json", exclude_defaults=False)


async def list_monitors(request: web.Request) -> web.Response:
    """Every configured monitor, its next scheduled run and its newest run."""
    from sidecar.app import SETTINGS

    runner = request.app[RUNNER]
    scheduler = request.app.get(SCHEDULER)
    out = []
    for monitor in request.app[SETTINGS].monitors:
        latest = await runner.runs.latest_run(monitor.name)
        out.append(
            {
                "name": monitor.name,
                "config": _describe(monitor),
                "next_run": scheduler.next_run(monitor.name) if scheduler else None,
                "latest_run": run_json(request, latest) if latest else None,
            }
        )
    return _json({"monitors": out})


async def get_monitor(request: web.Request) -> web.Response:
    """One monitor, with its next run, latest run and reference versions."""
    monitor = _monitor(request)
    runner = request.app[RUNNER]
    scheduler = request.app.get(SCHEDULER)
    latest = await runner.runs.latest_run(monitor.name)
    references = await runner.references.list_references(monitor.name)
    return _json(
        {
            "name": monitor.name,
            "config": _describe(monitor),
            "next_run": scheduler.next_run(monitor.name) if scheduler else None,
            "latest_run": run_json(request, latest) if latest else None,
            "references": [asdict(r) for r in references],
        }
    )


def _time_param(request: web.Request, name: str) -> float | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse_time(raw)
    except ValueError as exc:
        raise BadRequest(f"{name}: {exc}") from None


def _outcome_json(request: web.Request, outcome: RunOutcome) -> dict[str, Any]:
    return {
        "status": outcome.status,
        "run": run_json(request, outcome.run) if outcome.run else None,
        "error": outcome.error,
    }


async def run_monitor(request: web.Request) -> web.Response:
    """Run the monitor now, on its window ending now (or `from`/`to`); `wait=false` answers 202 at once."""
    monitor = _monitor(request)
    start, end = _time_param(request, "from"), _time_param(request, "to")
    now = time.time()
    end = now if end is None else end
    if start is not None and start >= end:
        raise BadRequest("from must be before to")
    wait = request.query.get("wait", "true").lower() not in ("0", "false", "no")
    runner = request.app[RUNNER]
    if not wait:
        task = asyncio.create_task(runner.run(monitor, end, start=start, trigger="api", reclaim_failed=True))
        _background(request.app, task)
        window = runner.claim_window(monitor, end, start)
        return _json(
            {"status": "started", "window_start": window[0], "window_end": window[1]},
            status=202,
        )
    outcome = await runner.run(monitor, end, start=start, trigger="api", reclaim_failed=True)
    status = {"ok": 200, "skipped": 200, "failed": 500, "claimed": 409}[outcome.status]
    return _json(_outcome_json(request, outcome), status=status)


_BACKGROUND = web.AppKey("monitor_background_runs", set[asyncio.Task[RunOutcome]])


def _background(app: web.Application, task: asyncio.Task[RunOutcome]) -> None:
    tasks = app[_BACKGROUND]
    tasks.add(task)
    task.add_done_callback(tasks.discard)


def _limit(request: web.Request, default: int = 50) -> int:
    raw = request.query.get("limit", str(default))
    try:
        limit = int(raw)
    except ValueError:
        raise BadRequest(f"limit must be an integer, got {raw!r}") from None
    if not 1 <= limit <= MAX_RUNS_LISTED:
        raise BadRequest(f"limit must be between 1 and {MAX_RUNS_LISTED}")
    return limit


async def list_runs(request: web.Request) -> web.Response:
    """The monitor's runs, newest first: `?limit=` (default 50) and `?status=ok|skipped|failed|running`."""
    monitor = _monitor(request)
    status = request.query.get("status") or None
    if status not in (None, "ok", "skipped", "failed", "running"):
        raise BadRequest("status must be one of ok, skipped, failed, running")
    runs = await request.app[RUNNER].runs.list_runs(monitor.name, _limit(request), status)  # type: ignore[arg-type]
    return _json({"runs": [run_json(request, r) for r in runs]})


async def latest_report(request: web.Request) -> web.Response:
    """The newest run with a report (status ok): the run, its summary and links."""
    monitor = _monitor(request)
    latest = await request.app[RUNNER].runs.latest_run(monitor.name, status="ok")
    if latest is None:
        raise NotFound(f"monitor {monitor.name!r} has no finished report yet")
    return _json(run_json(request, latest))


async def list_references(request: web.Request) -> web.Response:
    """The monitor's reference versions, newest first."""
    monitor = _monitor(request)
    infos = await request.app[RUNNER].references.list_references(monitor.name)
    return _json({"references": [asdict(i) for i in infos]})


async def _spool_body(request: web.Request, suffix: str) -> Path:
    """The request body in a temporary file (at most MAX_REFERENCE_BYTES)."""
    handle, name = tempfile.mkstemp(prefix="driftcar-reference-", suffix=suffix)
    path = Path(name)
    size = 0
    try:
        with os.fdopen(handle, "wb") as out:
            async for chunk in request.content.iter_chunked(1 << 20):
                size += len(chunk)
                if size > MAX_REFERENCE_BYTES:
                    raise BadRequest(f"the reference file is larger than {MAX_REFERENCE_BYTES} bytes")
                await asyncio.to_thread(out.write, chunk)
    except BaseException:
        await asyncio.to_thread(path.unlink, True)
        raise
    if size == 0:
        await asyncio.to_thread(path.unlink, True)
        raise BadRequest("the request body is empty: send the reference file as the body")
    return path


async def put_reference(request: web.Request) -> web.Response:
    """Store a new reference version from the body (a file), or pin one from captured traffic (JSON)."""
    from storage.reference_files import read_reference_file

    monitor = _monitor(request)
    references = request.app[RUNNER].references
    note = request.query.get("note") or None
    content_type = request.content_type.lower()
    try:
        if content_type == "application/json":
            return await _pin(request, monitor, note)
        suffix = _UPLOAD_SUFFIX.get(content_type)
        if suffix is None:
            raise BadRequest(
                f"unsupported Content-Type {content_type!r}: send text/csv, application/x-ndjson or "
                "application/vnd.apache.parquet, or application/json with from/to to pin captured traffic"
            )
        path = await _spool_body(request, suffix)
        try:
            frame = await asyncio.to_thread(read_reference_file, path)
        finally:
            await asyncio.to_thread(path.unlink, True)
        info = await references.put_reference(monitor.name, frame, "upload", note)
    except InvalidReference as exc:
        raise BadRequest(str(exc)) from None
    return _json({"reference": asdict(info)}, status=201)


async def _pin(request: web.Request, monitor: MonitorConfig, note: str | None) -> web.Response:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"invalid JSON: {exc}") from None
    if not isinstance(body, dict) or set(body) - {"from", "to", "note"} or not {"from", "to"} <= set(body):
        raise BadRequest('expected {"from": TIME, "to": TIME} (and optionally "note")')
    try:
        start, end = (parse_time(str(body[k])) for k in ("from", "to"))
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    if start >= end:
        raise BadRequest("from must be before to")
    features = None
    if monitor.features is not None:
        protected = monitor.fairness.protected if monitor.fairness else []
        features = list(dict.fromkeys([*monitor.features, *protected]))
    info = await request.app[RUNNER].references.pin_reference_from_traffic(
        monitor.name,
        start,
        end,
        features=features,
        note=body.get("note") or note,
        **monitor.record_filter(),
    )
    return _json({"reference": asdict(info)}, status=201)


async def post_feedback(request: web.Request) -> web.Response:
    """Store ground-truth labels: `{"labels": [{"request_id": ..., "row": 0, "label": ...}, ...]}`."""
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"invalid JSON: {exc}") from None
    items = body.get("labels") if isinstance(body, dict) else body
    if not isinstance(items, list):
        raise BadRequest('expected {"labels": [{"request_id": ..., "row": 0, "label": ...}, ...]}')
    try:
        stored = await request.app[FEEDBACK].add_feedback(items)
    except InvalidFeedback as exc:
        raise BadRequest(str(exc)) from None
    return _json({"stored": stored})


def _run_id(request: web.Request) -> int:
    raw = request.match_info["run"]
    try:
        return int(raw)
    except ValueError:
        raise NotFound(f"no report {raw!r}") from None


async def report_html(request: web.Request) -> web.StreamResponse:
    """A run's HTML report, sent gzip-compressed as stored when the client accepts it."""
    run_id = _run_id(request)
    runs = request.app[RUNNER].runs
    try:
        packed = await runs.get_html_gzip(run_id)
    except StoreNotFound:
        raise NotFound(f"no report run {run_id}") from None
    if packed is None:
        run = await runs.get_run(run_id)
        raise NotFound(f"report run {run_id} has no HTML report (status {run.status})")
    headers = {"Cache-Control": "private, max-age=3600", "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("Accept-Encoding", "").lower():
        headers["Content-Encoding"] = "gzip"
        return web.Response(body=packed, content_type="text/html", charset="utf-8", headers=headers)
    import gzip

    body = await asyncio.to_thread(gzip.decompress, packed)
    return web.Response(body=body, content_type="text/html", charset="utf-8", headers=headers)


async def report_json(request: web.Request) -> web.Response:
    """A run and its summary as JSON."""
    run_id = _run_id(request)
    try:
        run = await request.app[RUNNER].runs.get_run(run_id)
    except StoreNotFound:
        raise NotFound(f"no report run {run_id}") from None
    return _json(run_json(request, run))


async def reports_index(request: web.Request) -> web.Response:
    """The HTML index: per monitor, its runs with verdicts, flags and a chart over time."""
    from sidecar.app import SETTINGS
    from sidecar.monitors.pages import MonitorRuns, render_index

    runner = request.app[RUNNER]
    scheduler = request.app.get(SCHEDULER)
    limit = _limit(request, default=100)
    listed = []
    for monitor in request.app[SETTINGS].monitors:
        runs = await runner.runs.list_runs(monitor.name, limit)
        listed.append(
            MonitorRuns(
                name=monitor.name,
                description=describe_monitor(monitor),
                runs=runs,
                next_run=scheduler.next_run(monitor.name) if scheduler else None,
            )
        )
    page = await asyncio.to_thread(render_index, listed, now=time.time())
    return web.Response(text=page, content_type="text/html", charset="utf-8")


def describe_monitor(monitor: MonitorConfig) -> str:
    """One line: which records, which window, how often."""
    parts = [f"{key} {value}" for key, value in monitor.record_filter().items() if value is not None]
    parts.append(
        f"records of the last {monitor.window.minutes:g} min"
        if monitor.window.minutes
        else f"newest {monitor.window.records:,} records"
    )
    if not monitor.schedule.enabled:
        parts.append("on demand only")
    elif monitor.schedule.cron is not None:
        parts.append(f"cron {monitor.schedule.cron} (UTC)")
    else:
        assert monitor.schedule.every is not None
        parts.append(f"every {monitor.schedule.every:g} s")
    return " · ".join(parts)


def setup_monitor_routes(app: web.Application) -> None:
    """Add the monitors' routes to the admin app."""
    app[_BACKGROUND] = set()
    r = app.router
    r.add_get("/api/monitors", list_monitors)
    r.add_get("/api/monitors/{name}", get_monitor)
    r.add_post("/api/monitors/{name}/run", run_monitor)
    r.add_get("/api/monitors/{name}/runs", list_runs)
    r.add_get("/api/monitors/{name}/reports/latest", latest_report)
    r.add_get("/api/monitors/{name}/references", list_references)
    r.add_post("/api/monitors/{name}/references", put_reference)
    r.add_post("/api/feedback", post_feedback)
    r.add_get("/reports", reports_index)
    r.add_get(r"/reports/{run:\d+}.json", report_json)
    r.add_get(r"/reports/{run:\d+}", report_html)
