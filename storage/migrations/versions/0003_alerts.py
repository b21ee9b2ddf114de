"""alerts: alert_states, alert_outbox, alert_deliveries

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

Columns are spelled out here rather than taken from `storage.schema`: a migration is a frozen snapshot
(only the TextJSON column type is imported).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from storage.schema import TextJSON

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return (
        sa.JSON(none_as_null=True)
        .with_variant(TextJSON(none_as_null=True), "sqlite")
        .with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
    )


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create `alert_states`, `alert_outbox` and `alert_deliveries`."""
    op.create_table(
        "alert_states",
        sa.Column("fingerprint", sa.String(64), nullable=False, comment="sha256 of monitor, rule and labels"),
        sa.Column("monitor", sa.Text(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column(
            "consecutive",
            sa.Integer(),
            nullable=False,
            comment="windows in a row whose run met the condition",
        ),
        sa.Column("started_at", sa.Double(), nullable=True, comment="when it last started firing"),
        sa.Column("resolved_at", sa.Double(), nullable=True),
        sa.Column("last_notified_at", sa.Double(), nullable=True),
        sa.Column(
            "notifications",
            sa.Integer(),
            nullable=False,
            comment="notifications sent so far (ids are per number)",
        ),
        sa.Column(
            "last_window_end", sa.Double(), nullable=False, comment="end of the newest window evaluated"
        ),
        sa.Column("last_run_id", _id(), nullable=True),
        sa.Column("details", _json(), nullable=True, comment="the findings of the newest evaluation"),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint", name="pk_alert_states"),
        sa.CheckConstraint("status IN ('pending', 'firing', 'resolved')", name="ck_alert_states_status"),
        comment="one row per alert: its lifecycle across report runs",
    )
    op.create_index("ix_alert_states_monitor_status", "alert_states", ["monitor", "status"])
    op.create_table(
        "alert_outbox",
        sa.Column("id", _id(), sa.Identity(), nullable=False),
        sa.Column(
            "event_id", sa.Text(), nullable=False, comment="the notification's id, sent as Idempotency-Key"
        ),
        sa.Column("destination", sa.Text(), nullable=False, comment="the configured webhook's name"),
        sa.Column("monitor", sa.Text(), nullable=False),
        sa.Column(
            "event", _json(), nullable=False, comment="the notification in driftcar's format (version 1)"
        ),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("next_attempt_at", sa.Double(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column(
            "lease_until", sa.Double(), nullable=True, comment="a dispatcher is delivering it until then"
        ),
        sa.Column("delivered_at", sa.Double(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alert_outbox"),
        sa.UniqueConstraint("event_id", "destination", name="uq_alert_outbox_event_id_destination"),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'dead')", name="ck_alert_outbox_status"),
        comment="notifications to deliver, written in the transaction that stores the report run",
    )
    op.create_index("ix_alert_outbox_status_next_attempt_at", "alert_outbox", ["status", "next_attempt_at"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", _id(), sa.Identity(), nullable=False),
        sa.Column("outbox_id", _id(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alert_deliveries"),
        comment="one row per delivery attempt",
    )
    op.create_index("ix_alert_deliveries_outbox_id", "alert_deliveries", ["outbox_id"])


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_index("ix_alert_deliveries_outbox_id", table_name="alert_deliveries")
    op.drop_table("alert_deliveries")
    op.drop_index("ix_alert_outbox_status_next_attempt_at", table_name="alert_outbox")
    op.drop_table("alert_outbox")
    op.drop_index("ix_alert_states_monitor_status", table_name="alert_states")
    op.drop_table("alert_states")
