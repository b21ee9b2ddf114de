"""records and spool_segments

Revision ID: 0001
Revises:
Create Date: 2025-11-25

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

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return (
        sa.JSON(none_as_null=True)
        .with_variant(TextJSON(none_as_null=True), "sqlite")
        .with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
    )


def upgrade() -> None:
    """Create `records` with its query indexes, and `spool_segments`."""
    op.create_table(
        "records",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), sa.Identity(), nullable=False),
        sa.Column("ts", sa.Double(), nullable=False, comment="arrival time, seconds since the epoch (UTC)"),
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column(
            "row", sa.Integer(), nullable=False, comment="index of the instance within its request's batch"
        ),
        sa.Column("model", sa.Text(), nullable=True),
        sa.Column("model_version", sa.Text(), nullable=True),
        sa.Column("route", sa.Text(), nullable=False),
        sa.Column("protocol", sa.Text(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column(
            "latency_ms", sa.Double(), nullable=True, comment="NULL when the measured value was not finite"
        ),
        sa.Column("features", _json(), nullable=True),
        sa.Column("prediction", _json(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("extra", _json(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_records"),
    )
    op.create_index("ix_records_model_ts", "records", ["model", "ts"])
    op.create_index("ix_records_ts", "records", ["ts"])
    op.create_index("ix_records_request_id_row", "records", ["request_id", "row"])
    op.create_table(
        "spool_segments",
        sa.Column(
            "id", sa.String(80), nullable=False, comment="spool segment file name: <time_ns>-<uuid4 hex>"
        ),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("applied_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_spool_segments"),
        comment="spool segments already replayed into records, so that a replay is never repeated",
    )


def downgrade() -> None:
    """Drop both tables."""
    op.drop_table("spool_segments")
    op.drop_index("ix_records_request_id_row", table_name="records")
    op.drop_index("ix_records_ts", table_name="records")
    op.drop_index("ix_records_model_ts", table_name="records")
    op.drop_table("records")
