"""Usage records written in driver-level batches read back exactly (to the microsecond, as
UTC), on both databases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from serika.config import async_database_url
from serika.db.engine import create_engine
from serika.db.tables import usage_records, users
from serika.usage.record import UsageRow
from serika.usage.store import UsageFilter, UsageStore

MONTH = datetime(2026, 11, 1, tzinfo=UTC)


def row(created_at: datetime, **changes: object) -> UsageRow:
    base = UsageRow(
        "usr_1", "key_1", "/chat/completions", "demo/m", 200, 3, 5, 0, 42, 7, False, 1, 0.0
    )
    return base._replace(created_at=created_at.timestamp(), **changes)


def test_batches_read_back_with_their_times_and_the_month_bounds_hold(database_url: str) -> None:
    async def main() -> None:
        engine = create_engine(async_database_url(database_url))
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    insert(users).values(
                        id="usr_1",
                        email="a@x.org",
                        username="a",
                        password_hash="x",
                        created_at=MONTH,
                    )
                )
            store = UsageStore(engine)
            before = MONTH - timedelta(microseconds=1)  # the last moment of October
            in_month = MONTH + timedelta(days=3, hours=4, seconds=5, microseconds=6)
            await store.insert_many(
                [
                    row(before, completion_tokens=1000),
                    row(MONTH),  # exactly midnight: no fraction of a second
                    row(in_month, key_id=None, model=None, status=429, estimated=True),
                    # a record of 5 unbilled calls (failed ones: 404) counts as 5 requests
                    row(
                        in_month,
                        prompt_tokens=0,
                        completion_tokens=0,
                        cost_micro_usd=0,
                        status=404,
                        requests=5,
                    ),
                ]
            )
            await store.insert_many([])
            async with engine.connect() as conn:
                stored = (
                    (await conn.execute(select(usage_records).order_by(usage_records.c.id)))
                    .mappings()
                    .all()
                )
            assert [r["created_at"] for r in stored] == [before, MONTH, in_month, in_month]
            assert all(r["created_at"].tzinfo is not None for r in stored)
            assert [r["estimated"] for r in stored] == [False, False, True, False]
            assert [r["key_id"] for r in stored] == ["key_1", "key_1", None, "key_1"]
            assert [r["requests"] for r in stored] == [1, 1, 1, 5]
            assert stored[2]["status"] == 429 and stored[2]["model"] is None
            # The month starts at midnight sharp: October's row is out, November's are in.
            totals = await store.totals_since("usr_1", MONTH)
            assert totals["total_requests"] == 7
            assert (totals["successful"], totals["failed"]) == (1, 6)
            assert totals["completion_tokens"] == 10
            assert totals["cost"] == 84
            report = await store.report(
                UsageFilter("usr_1", MONTH, MONTH + timedelta(days=30), key_id="key_1")
            )
            assert report["summary"][0]["total_requests"] == 6
            assert [d["day"] for d in report["by_day"]] == ["2026-11-01", "2026-11-04"]
        finally:
            await engine.dispose()

    asyncio.run(main())
