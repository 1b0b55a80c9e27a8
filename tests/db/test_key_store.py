"""The key store on both databases: activity never moves last_used_at backwards."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from serika.config import async_database_url
from serika.db.engine import create_engine
from serika.db.migrate import head_revision, is_up_to_date
from serika.keys.store import KeyActivity, KeyStore

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


async def _scenario(url: str) -> None:
    engine = create_engine(async_database_url(url))
    try:
        assert await is_up_to_date(engine)
        assert head_revision() is not None
        async with engine.begin() as conn:
            from serika.db.tables import api_keys, users

            await conn.execute(
                users.insert().values(
                    id="usr_1",
                    email="a@example.com",
                    username="aaa",
                    password_hash="x",
                    tier="free",
                    created_at=T0,
                )
            )
            await conn.execute(
                api_keys.insert().values(
                    id="key_1",
                    user_id="usr_1",
                    name="k",
                    key_hash="h" * 64,
                    hint="sk-…abcd",
                    permissions="user_info",
                    status="active",
                    created_at=T0,
                    updated_at=T0,
                )
            )
        store = KeyStore(engine)
        later = T0 + timedelta(minutes=5)
        await store.apply_activity([KeyActivity("key_1", later, 2, 10, 1)])
        # a straggling batch from another process carries an older time
        await store.apply_activity([KeyActivity("key_1", T0 + timedelta(minutes=1), 1, 0, 0)])
        # a batch for a key deleted meanwhile is harmless
        await store.apply_activity([KeyActivity("key_gone", later, 1, 0, 0)])
        key = await store.get_for_user("usr_1", "key_1")
        assert key is not None
        assert key.last_used_at == later
        assert (key.total_requests, key.total_tokens, key.total_images) == (3, 10, 1)
        credential = await store.find_credential("h" * 64)
        assert credential is not None and credential.key_id == "key_1"
        assert await store.find_credential("0" * 64) is None
        assert await store.get_for_user("usr_other", "key_1") is None
    finally:
        await engine.dispose()


def test_activity_adds_up_and_never_goes_back(database_url: str) -> None:
    asyncio.run(_scenario(database_url))
