"""The image_jobs migration creates exactly the table serika.db.tables declares."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import inspect

from serika.config import async_database_url
from serika.db.engine import create_engine
from serika.db.tables import image_jobs


def test_migrated_table_matches_the_declaration(database_url: str) -> None:
    async def reflect() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        engine = create_engine(async_database_url(database_url))
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: (
                        inspect(sync).get_columns("image_jobs"),
                        inspect(sync).get_indexes("image_jobs"),
                    )
                )
        finally:
            await engine.dispose()

    columns, indexes = asyncio.run(reflect())
    assert {c["name"]: c["nullable"] for c in columns} == {
        c.name: c.nullable for c in image_jobs.columns
    }
    assert {i["name"]: tuple(i["column_names"]) for i in indexes} == {
        str(i.name): tuple(c.name for c in i.columns) for i in image_jobs.indexes
    }
