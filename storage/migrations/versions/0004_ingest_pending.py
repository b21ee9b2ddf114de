"""ingest_pending: KServe logger events waiting for their partner, shared by replicas

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

Columns are spelled out here rather than taken from `storage.schema`: a migration is a frozen snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create `ingest_pending`."""
    op.create_table(
        "ingest_pending",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), sa.Identity(), nullable=False),
        sa.Column("namespace", sa.Text(), nullable=False),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("component", sa.Text(), nullable=False),
        sa.Column(
            "event_id",
            sa.Text(),
            nullable=False,
            comment="the CloudEvent id shared by a request and its response",
        ),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("time", sa.Double(), nullable=True, comment="ce-time, seconds since the epoch"),
        sa.Column("status", sa.Integer(), nullable=True, comment="ce-statuscode of a response"),
        sa.Column("content_type", sa.Text(), nullable=True),
        sa.Column(
            "body", sa.LargeBinary(), nullable=False, comment="the payload; emptied once the event is claimed"
        ),
        sa.Column("received", sa.Double(), nullable=False, comment="wall clock when the first event arrived"),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("done_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_ingest_pending"),
        sa.UniqueConstraint(
            "namespace",
            "service",
            "component",
            "event_id",
            name="uq_ingest_pending_namespace_service_component_event_id",
        ),
        sa.CheckConstraint("state IN ('waiting', 'done')", name="ck_ingest_pending_state"),
        sa.CheckConstraint("kind IN ('request', 'response')", name="ck_ingest_pending_kind"),
        comment="KServe logger events waiting for their partner, shared by every replica (ingest.pairing: store)",
    )
    op.create_index("ix_ingest_pending_state_received", "ingest_pending", ["state", "received"])


def downgrade() -> None:
    """Drop `ingest_pending` (events still waiting in it are lost)."""
    op.drop_index("ix_ingest_pending_state_received", table_name="ingest_pending")
    op.drop_table("ingest_pending")
