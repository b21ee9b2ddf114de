"""The `ingest:` settings: pairing of KServe logger events, size limits and the ingest token."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class IngestSettings(BaseModel):
    """`POST /ingest/kserve` (KServe payload logger) and `POST /ingest/records` (batch jobs)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    pairing: Literal["memory", "store"] = "memory"
    """Where an event waits for its partner: `memory` (this process: run one replica, events waiting at a
    kill -9 are lost) or `store` (a table in the database shared by every replica on it: a request and its
    response pair whichever replicas they reach, and waiting events survive restarts and kill -9)."""
    store_timeout: float = Field(default=2.0, gt=0)
    """With `pairing: store`, seconds a POST waits for the table before answering 202 anyway (the claim
    finishes in the background); when the table cannot be used the event is paired in memory instead."""
    pairing_ttl: float = Field(default=30.0, gt=0)
    """Seconds a request event waits for its response event (and vice versa) before it is recorded alone,
    with the error `no response logged` (or `no request logged`)."""
    max_pending: int = Field(default=10_000, ge=1)
    """Unpaired events held at once; further new ids are refused (503) and counted as dropped (with
    `pairing: store`, enforced approximately on the shared table's count, refreshed every second)."""
    max_pending_bytes: int = Field(default=64 << 20, ge=1)
    """Body bytes of the unpaired events held at once (same refusal past it)."""
    max_event_bytes: int = Field(default=4 << 20, ge=1)
    """Largest CloudEvent body accepted (413 beyond)."""
    max_batch_bytes: int = Field(default=32 << 20, ge=1)
    """Largest `POST /ingest/records` body accepted (413 beyond)."""
    max_batch_records: int = Field(default=100_000, ge=1)
    """Most records in one `POST /ingest/records` request (400 beyond)."""
    token: SecretStr | None = None
    """A second secret accepted on `/ingest/...` only, as `?token=` (KServe's logger cannot send an
    `Authorization` header) or `Authorization: Bearer`; grants ingestion, nothing else."""

    @field_validator("token")
    @classmethod
    def _check_token(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not v.get_secret_value().strip():
            raise ValueError("must not be empty (leave it unset to use only the admin token)")
        return v
