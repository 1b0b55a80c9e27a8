"""Tables, the async engine, and migrations (Alembic)."""
