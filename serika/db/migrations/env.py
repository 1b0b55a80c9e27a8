"""Alembic environment: runs on the connection that ``serika.db.migrate`` hands over."""

from __future__ import annotations

from alembic import context

from serika.db.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `serika migrate`")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
