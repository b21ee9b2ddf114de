"""Recorded KServe payload-logger CloudEvents (binary mode, as KServe's agent sends them) for the sklearn iris
InferenceService, with the V1 and V2 bodies of /work/shared/PROTOCOLS.md (KServe ModelServer 0.21)."""

from __future__ import annotations

from dataclasses import dataclass

REQUEST = "org.kubeflow.serving.inference.request"
RESPONSE = "org.kubeflow.serving.inference.response"


@dataclass(frozen=True)
class Event:
    """One CloudEvent as posted: headers and body."""

    headers: dict[str, str]
    body: bytes


def event(
    kind: str,
    event_id: str,
    body: bytes,
    *,
    service: str = "sklearn-iris",
    time: str | None = "2026-11-25T10:00:00.000000000Z",
    **extra: str,
) -> Event:
    """A binary-mode event with the headers KServe's agent (cloudevents sdk-go) sends."""
    headers = {
        "Ce-Specversion": "1.0",
        "Ce-Id": event_id,
        "Ce-Source": "http://localhost:9081/",
        "Ce-Type": REQUEST if kind == "request" else RESPONSE,
        "Ce-Inferenceservicename": service,
        "Ce-Namespace": "default",
        "Ce-Component": "predictor",
        "Ce-Endpoint": "default",
        "Ce-Metadata": "{}",
        "Content-Type": "application/json",
    }
    if time is not None:
        headers["Ce-Time"] = time
    headers.update(extra)
    return Event(headers, body)


V1_REQUEST = b'{"instances":[[5.1,3.5,1.4,0.2],[6.7,3.0,5.2,2.3]]}'
V1_RESPONSE = b'{"predictions":[0,2]}'
V2_REQUEST = (
    b'{"id":"req-1","inputs":[{"name":"input-0","shape":[2,4],"datatype":"FP64",'
    b'"data":[[5.1,3.5,1.4,0.2],[6.7,3.0,5.2,2.3]]}]}'
)
V2_RESPONSE = (
    b'{"model_name":"sklearn-iris","model_version":"3","id":"req-1","parameters":null,'
    b'"outputs":[{"name":"output-0","shape":[2],"datatype":"INT64","parameters":null,"data":[0,2]}]}'
)

V1_PAIR = (
    event("request", "5f0c1d7e-v1", V1_REQUEST, time="2026-11-25T10:00:00.100000000Z"),
    event("response", "5f0c1d7e-v1", V1_RESPONSE, time="2026-11-25T10:00:00.112500000Z"),
)
V2_PAIR = (
    event("request", "9a3e55b0-v2", V2_REQUEST, time="2026-11-25T10:00:01.000000000Z"),
    event("response", "9a3e55b0-v2", V2_RESPONSE, time="2026-11-25T10:00:01.020000000Z"),
)
T_V1 = 1_795_600_800.1  # 2026-11-25T10:00:00.1Z
T_V2 = 1_795_600_801.0

# As KServe's documentation shows them (event_display output of the sklearn-iris logger example): the request
# was sent by `curl -d` without a Content-Type, so the agent labels it application/x-www-form-urlencoded; the
# endpoint extension is empty; times have nanoseconds.
DOCS_ID = "689b15e7-84a1-4e89-9805-20809efc216d"
DOCS_PAIR = (
    Event(
        {
            "Ce-Specversion": "1.0",
            "Ce-Type": REQUEST,
            "Ce-Source": "http://localhost:9081/",
            "Ce-Id": DOCS_ID,
            "Ce-Time": "2023-04-05T07:39:53.501752983Z",
            "Content-Type": "application/x-www-form-urlencoded",
            "Ce-Component": "predictor",
            "Ce-Endpoint": "",
            "Ce-Inferenceservicename": "sklearn-iris",
            "Ce-Namespace": "default",
            "Ce-Traceparent": "00-25ba82c3ab23869bad83fd1b0d8e1a2c-6e3f5b0c2d1a4b7e-00",
        },
        b'{"instances": [[6.8,  2.8,  4.8,  1.4],[6.0,  3.4,  4.5,  1.6]]}',
    ),
    Event(
        {
            "Ce-Specversion": "1.0",
            "Ce-Type": RESPONSE,
            "Ce-Source": "http://localhost:9081/",
            "Ce-Id": DOCS_ID,
            "Ce-Time": "2023-04-05T07:39:53.505997782Z",
            "Content-Type": "application/json",
            "Ce-Component": "predictor",
            "Ce-Endpoint": "",
            "Ce-Inferenceservicename": "sklearn-iris",
            "Ce-Namespace": "default",
            "Ce-Traceparent": "00-7cebb2ae49d33626845711ad585c850c-78b57bf5baf7151f-00",
        },
        b'{"predictions": [1, 1]}',
    ),
)
T_DOCS = 1_680_680_393.501752  # 2023-04-05T07:39:53.501752Z
