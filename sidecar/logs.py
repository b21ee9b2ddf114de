"""Logging setup: text for terminals, or one JSON object per line (with the request id) for log pipelines."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal

LogFormat = Literal["text", "json"]

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("driftcar_request_id", default=None)
"""The id of the request being handled, where a log line may need it: set by the admin app's middleware for
each request, and by the proxy and capture around the log lines of a failed exchange (never per request)."""

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_HANDLER = "driftcar"
_AIOHTTP_SERVER = "aiohttp.server"


class ClientErrorFilter(logging.Filter):
    """aiohttp's server logs every request it cannot parse (a bad header, a lying Content-Length) at ERROR with a
    traceback, though it already answered 400: anyone who can reach the admin port could fill the log with
    them. Such records become one DEBUG line without the traceback (as the proxy port logs its own rejections);
    real errors of the server pass unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite a client's parse error to DEBUG; keep everything else."""
        from aiohttp.http_exceptions import HttpProcessingError

        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        reason = str(exc.message).strip().splitlines()[0] if exc.message else type(exc).__name__
        record.msg, record.args = "%s: %s %s", (record.getMessage(), exc.code, reason)
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        record.exc_info, record.exc_text = None, None
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def quiet_client_errors() -> None:
    """Install `ClientErrorFilter` on aiohttp's server logger (once)."""
    server = logging.getLogger(_AIOHTTP_SERVER)
    if not any(isinstance(f, ClientErrorFilter) for f in server.filters):
        server.addFilter(ClientErrorFilter())


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts (UTC, ISO 8601), level, logger, message, and request_id / exc_info /
    stack_info when there are any."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        doc: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id is not None:
            doc["request_id"] = request_id
        if record.exc_info:
            doc["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            doc["exc_info"] = record.exc_text
        if record.stack_info:
            doc["stack_info"] = self.formatStack(record.stack_info)
        # Messages are operators' text, but a value in them may be anything: never let a line break the format.
        return json.dumps(doc, ensure_ascii=False, default=str)


def setup_logging(level: str = "INFO", log_format: LogFormat = "text") -> None:
    """Log `log_format` lines to stderr at `level`; calling it again switches format and level. Like
    `logging.basicConfig`, it leaves a root logger configured by someone else (a test runner) alone."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if h.get_name() == _HANDLER]
    if len(ours) == len(root.handlers):
        for old in ours:
            root.removeHandler(old)
        handler = logging.StreamHandler(sys.stderr)
        handler.set_name(_HANDLER)
        handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
        root.addHandler(handler)
        root.setLevel(getattr(logging, str(level).upper(), logging.INFO))
        # Python warnings go through logging too, so a JSON log holds nothing but JSON lines.
        logging.captureWarnings(log_format == "json")
    # alembic narrates every plugin and migration step at INFO; operators need only its warnings.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
