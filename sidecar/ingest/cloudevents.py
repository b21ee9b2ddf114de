"""KServe payload-logger CloudEvents: binary mode (`ce-*` headers) and structured mode, parsed and checked.

KServe's agent (`pkg/logger/worker.go`) posts each logged request and each logged response as a separate
CloudEvent 1.0 in binary mode: the body is the inference payload byte for byte, `Content-Type` is the
request's content type (on both events), and the attributes are headers: `ce-specversion`, `ce-id` (the
request's `Ce-Id` header or a generated UUID, equal on both events), `ce-source`, `ce-type`
(`org.kubeflow.serving.inference.request` / `.response`), `ce-time`, and the extensions
`ce-inferenceservicename`, `ce-namespace`, `ce-component`, `ce-endpoint`, `ce-metadata` (and `ce-statuscode` on
responses when `logAllResponses` is set: then non-200 answers are logged too). Structured
mode (`application/cloudevents+json`, attributes and `data`/`data_base64` in one JSON object) is read too.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson
from multidict import CIMultiDictProxy

from sidecar.ingest.errors import InvalidEvent
from sidecar.timeparse import parse_time

REQUEST_TYPE: Final = "org.kubeflow.serving.inference.request"
RESPONSE_TYPE: Final = "org.kubeflow.serving.inference.response"
STRUCTURED: Final = "application/cloudevents+json"
_KINDS: Final[dict[str, Literal["request", "response"]]] = {
    REQUEST_TYPE: "request",
    RESPONSE_TYPE: "response",
}
# ce-id becomes the records' request_id: printable ASCII without spaces, bounded like the proxy's X-Request-ID.
_SAFE_ID: Final = re.compile(r"[!-~]{1,200}")
MAX_TIME: Final = 1e11  # epoch seconds: year 5138; anything later is a unit mistake
_MAX_ATTRIBUTE: Final = 253  # a Kubernetes name is at most 253 characters
# The service name goes into a route path (`/v2/models/{name}/infer`): a Kubernetes-style name, nothing else.
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}")


@dataclass(frozen=True, slots=True)
class InferenceEvent:
    """One logged request or response of a KServe InferenceService."""

    id: str
    kind: Literal["request", "response"]
    source: str
    service: str
    """`inferenceservicename`: recorded as the model."""
    namespace: str
    component: str
    endpoint: str
    time: float | None
    """`ce-time` in epoch seconds (when the agent sent the event), if present."""
    status: int | None
    """`ce-statuscode` of a response event (sent with the logger's `logAllResponses`), if present."""
    content_type: str | None
    body: bytes

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What a request and its response share: one service's component, and the event id."""
        return (self.namespace, self.service, self.component, self.id)


def parse_binary(headers: CIMultiDictProxy[str], body: bytes) -> InferenceEvent:
    """A binary-mode event: attributes from `ce-*` headers, the body as the payload; InvalidEvent otherwise."""
    attributes = {
        name[3:].lower(): value for name, value in headers.items() if name.lower().startswith("ce-")
    }
    return _event(attributes, headers.get("Content-Type"), body, "ce-")


def parse_structured(body: bytes) -> InferenceEvent:
    """A structured-mode event (`application/cloudevents+json`); InvalidEvent otherwise."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"structured CloudEvent is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidEvent("structured CloudEvent must be a JSON object")
    # JSON-format extensions may be integers (e.g. statuscode); every attribute is read as its string form.
    attributes = {
        k: v if isinstance(v, str) else str(v)
        for k, v in document.items()
        if k not in ("data", "data_base64") and isinstance(v, str | int) and not isinstance(v, bool)
    }
    if "data_base64" in document:
        encoded = document["data_base64"]
        try:
            payload = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else None
        except binascii.Error:
            payload = None
        if payload is None:
            raise InvalidEvent("data_base64 is not valid base64")
    elif "data" in document:
        data: Any = document["data"]
        payload = data.encode() if isinstance(data, str) else orjson.dumps(data)
    else:
        payload = b""
    return _event(attributes, attributes.get("datacontenttype"), payload, "")


def _event(attributes: dict[str, str], content_type: str | None, body: bytes, prefix: str) -> InferenceEvent:
    def required(name: str) -> str:
        value = attributes.get(name, "").strip()
        if not value:
            raise InvalidEvent(f"missing CloudEvent attribute {prefix}{name}")
        if len(value) > _MAX_ATTRIBUTE:
            raise InvalidEvent(f"{prefix}{name} is longer than {_MAX_ATTRIBUTE} characters")
        return value

    version = required("specversion")
    if version != "1.0":
        raise InvalidEvent(f"{prefix}specversion {version[:20]!r} is not supported (expected 1.0)")
    event_id = required("id")
    if _SAFE_ID.fullmatch(event_id) is None:
        raise InvalidEvent(f"{prefix}id must be 1-200 printable ASCII characters without spaces")
    event_type = required("type")
    kind = _KINDS.get(event_type)
    if kind is None:
        raise InvalidEvent(f"{prefix}type {event_type[:100]!r} is not {REQUEST_TYPE} or {RESPONSE_TYPE}")
    source = required("source")
    service = required("inferenceservicename")
    if _NAME.fullmatch(service) is None:
        raise InvalidEvent(f"{prefix}inferenceservicename must be a Kubernetes name (letters, digits, . _ -)")
    when: float | None = None
    if attributes.get("time"):
        try:
            when = parse_time(attributes["time"])
        except ValueError:
            when = -1.0
        if not 0.0 <= when < MAX_TIME:
            raise InvalidEvent(f"{prefix}time {attributes['time'][:40]!r} is not an RFC 3339 time")
    status: int | None = None
    if attributes.get("statuscode"):
        code = attributes["statuscode"].strip()
        if not (code.isdigit() and 100 <= int(code) <= 599):
            raise InvalidEvent(f"{prefix}statuscode {code[:20]!r} is not an HTTP status code")
        status = int(code)
    return InferenceEvent(
        id=event_id,
        kind=kind,
        source=source,
        service=service,
        namespace=attributes.get("namespace", "")[:_MAX_ATTRIBUTE],
        component=attributes.get("component", "")[:_MAX_ATTRIBUTE],
        endpoint=attributes.get("endpoint", "")[:_MAX_ATTRIBUTE],
        time=when,
        status=status,
        content_type=content_type,
        body=body,
    )
