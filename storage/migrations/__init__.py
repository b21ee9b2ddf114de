"""Alembic migrations of the driftcar schema; run by `storage.migrate.upgrade` or `driftcar db upgrade`."""
