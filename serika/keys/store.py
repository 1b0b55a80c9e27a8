"""API keys in the database. The only module that writes SQL for the api_keys table."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, bindparam, case, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from serika.db.tables import api_keys, users
from serika.keys.model import ApiKey, KeyCredential, KeyStatus
from serika.keys.permissions import from_stored


@dataclass(frozen=True, slots=True)
class KeyActivity:
    """Use of one key since the last flush."""

    key_id: str
    last_used_at: datetime
    requests: int
    tokens: int
    images: int


def _to_key(row: RowMapping) -> ApiKey:
    return ApiKey(
        id=row["id"],
        user_id=row["user_id"],
        name=row["name"],
        hint=row["hint"],
        permissions=from_stored(row["permissions"]),
        status=KeyStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_used_at=row["last_used_at"],
        total_requests=row["total_requests"],
        total_tokens=row["total_tokens"],
        total_images=row["total_images"],
    )


_OWNER_COLUMNS = [c for c in api_keys.c if c.name != "key_hash"]


class KeyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def count_for_user(self, user_id: str) -> int:
        query = select(func.count()).select_from(api_keys).where(api_keys.c.user_id == user_id)
        async with self._engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def insert(self, values: Mapping[str, Any]) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(insert(api_keys).values(**values))

    async def list_for_user(self, user_id: str) -> list[ApiKey]:
        query = (
            select(*_OWNER_COLUMNS)
            .where(api_keys.c.user_id == user_id)
            .order_by(api_keys.c.created_at.desc(), api_keys.c.id.desc())
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_to_key(row) for row in rows]

    async def get_for_user(self, user_id: str, key_id: str) -> ApiKey | None:
        query = select(*_OWNER_COLUMNS).where(
            api_keys.c.id == key_id, api_keys.c.user_id == user_id
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return _to_key(row) if row else None

    async def update_for_user(self, user_id: str, key_id: str, values: Mapping[str, Any]) -> bool:
        query = (
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.user_id == user_id)
            .values(**values)
        )
        async with self._engine.begin() as conn:
            return (await conn.execute(query)).rowcount == 1

    async def delete_for_user(self, user_id: str, key_id: str) -> bool:
        query = delete(api_keys).where(api_keys.c.id == key_id, api_keys.c.user_id == user_id)
        async with self._engine.begin() as conn:
            return (await conn.execute(query)).rowcount == 1

    async def find_credential(self, key_hash: str) -> KeyCredential | None:
        """The one query on the verification path: an indexed equality on the hash."""
        query = (
            select(
                api_keys.c.id,
                api_keys.c.user_id,
                api_keys.c.key_hash,
                api_keys.c.permissions,
                api_keys.c.status,
                users.c.tier,
                users.c.monthly_spend_limit_micro_usd,
            )
            .select_from(api_keys.join(users, users.c.id == api_keys.c.user_id))
            .where(api_keys.c.key_hash == key_hash)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return KeyCredential(
            key_id=row.id,
            user_id=row.user_id,
            key_hash=row.key_hash,
            permissions=from_stored(row.permissions),
            status=KeyStatus(row.status),
            tier=row.tier,
            spend_limit_micro_usd=row.monthly_spend_limit_micro_usd,
        )

    async def apply_activity(self, batch: Iterable[KeyActivity]) -> None:
        """Add counters and move last_used_at forward (never back), in one transaction."""
        params = [
            {
                "kid": item.key_id,
                "used": item.last_used_at,
                "requests": item.requests,
                "tokens": item.tokens,
                "images": item.images,
            }
            for item in batch
        ]
        if not params:
            return
        used = bindparam("used", type_=api_keys.c.last_used_at.type)
        query = (
            update(api_keys)
            .where(api_keys.c.id == bindparam("kid"))
            .values(
                last_used_at=case(
                    (api_keys.c.last_used_at.is_(None), used),
                    (api_keys.c.last_used_at < used, used),
                    else_=api_keys.c.last_used_at,
                ),
                total_requests=api_keys.c.total_requests + bindparam("requests"),
                total_tokens=api_keys.c.total_tokens + bindparam("tokens"),
                total_images=api_keys.c.total_images + bindparam("images"),
            )
        )
        async with self._engine.begin() as conn:
            await conn.execute(query, params)
