"""Alembic environment: runs on the connection that `storage.migrate` passes in `config.attributes`."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from storage.schema import metadata


def run_migrations(connection: Connection) -> None:
    """Run the pending migrations on `connection` (SQLite ALTERs go through batch mode)."""
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


_connection = context.config.attributes.get("connection")
if context.is_offline_mode() or not isinstance(_connection, Connection):
    raise RuntimeError("driftcar migrations run online through storage.migrate, e.g. `driftcar db upgrade`")
run_migrations(_connection)
