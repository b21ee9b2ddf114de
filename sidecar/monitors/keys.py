"""Typed keys of the monitors' resources on the admin app."""

from __future__ import annotations

from aiohttp import web

from alerts.dispatcher import Dispatcher
from sidecar.monitors.runner import MonitorRunner, ReportPool
from sidecar.monitors.scheduler import MonitorScheduler
from storage.feedback import FeedbackStore

RUNNER = web.AppKey("monitor_runner", MonitorRunner)
SCHEDULER = web.AppKey("monitor_scheduler", MonitorScheduler)
POOL = web.AppKey("report_pool", ReportPool)
FEEDBACK = web.AppKey("feedback", FeedbackStore)
DISPATCHER = web.AppKey("alert_dispatcher", Dispatcher)
