"""monitors: reference_sets, feedback, report_runs

Revision ID: 0002
Revises: 0001
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

revision: str = "0002"
down_revision: str | None = "0001"
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
    """Create `reference_sets`, `feedback` and `report_runs`."""
    op.create_table(
        "reference_sets",
        sa.Column("id", _id(), sa.Identity(), nullable=False),
        sa.Column("monitor", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, comment="1, 2, ... per monitor"),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("n_rows", sa.Integer(), nullable=False),
        sa.Column("columns", _json(), nullable=False, comment='[{"name": ..., "dtype": ...}] in frame order'),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("data", sa.LargeBinary(), nullable=False, comment="the frame as zstd-compressed Parquet"),
        sa.PrimaryKeyConstraint("id", name="pk_reference_sets"),
        sa.UniqueConstraint("monitor", "version", name="uq_reference_sets_monitor_version"),
        sa.CheckConstraint("source IN ('upload', 'traffic', 'first_n')", name="ck_reference_sets_source"),
        comment="reference data sets, versioned per monitor",
    )
    op.create_table(
        "feedback",
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("label", _json(), nullable=False),
        sa.Column("received_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", "row", name="pk_feedback"),
        comment="ground truth per captured instance; a later label replaces an earlier one",
    )
    op.create_index("ix_feedback_received_at", "feedback", ["received_at"])
    op.create_table(
        "report_runs",
        sa.Column("id", _id(), sa.Identity(), nullable=False),
        sa.Column("monitor", sa.Text(), nullable=False),
        sa.Column("window_start", sa.Double(), nullable=False),
        sa.Column("window_end", sa.Double(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("replica", sa.Text(), nullable=False, comment="the replica that claimed the run"),
        sa.Column("claimed_at", sa.Double(), nullable=False),
        sa.Column("finished_at", sa.Double(), nullable=True),
        sa.Column("n_rows", sa.Integer(), nullable=True),
        sa.Column("reference_version", sa.Integer(), nullable=True),
        sa.Column("summary", _json(), nullable=True),
        sa.Column("html", sa.LargeBinary(), nullable=True, comment="the HTML report, gzip-compressed"),
        sa.Column("error", sa.Text(), nullable=True, comment="why the run failed or was skipped"),
        sa.PrimaryKeyConstraint("id", name="pk_report_runs"),
        sa.UniqueConstraint(
            "monitor", "window_start", "window_end", name="uq_report_runs_monitor_window_start_window_end"
        ),
        sa.CheckConstraint("status IN ('running', 'ok', 'failed', 'skipped')", name="ck_report_runs_status"),
        comment="scheduled report runs; the unique window makes a claim succeed on one replica only",
    )
    op.create_index("ix_report_runs_monitor_window_end", "report_runs", ["monitor", "window_end"])
    op.create_index("ix_report_runs_status_claimed_at", "report_runs", ["status", "claimed_at"])


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_index("ix_report_runs_status_claimed_at", table_name="report_runs")
    op.drop_index("ix_report_runs_monitor_window_end", table_name="report_runs")
    op.drop_table("report_runs")
    op.drop_index("ix_feedback_received_at", table_name="feedback")
    op.drop_table("feedback")
    op.drop_table("reference_sets")
