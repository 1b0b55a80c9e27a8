"""Users and sessions in the database."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from serika.accounts.model import Tier, User
from serika.db.tables import sessions, users


class DuplicateUser(Exception):
    """The email or username is taken."""


def _to_user(row: RowMapping) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        username=row["username"],
        tier=Tier(row["tier"]),
        created_at=row["created_at"],
        spend_limit_micro_usd=row["monthly_spend_limit_micro_usd"],
    )


_USER_COLUMNS = [c for c in users.c if c.name != "password_hash"]


class AccountStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def insert_user(self, values: Mapping[str, Any]) -> None:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(users).values(**values))
        except IntegrityError as exc:
            raise DuplicateUser from exc

    async def user_by_id(self, user_id: str) -> User | None:
        async with self._engine.connect() as conn:
            row = (
                (await conn.execute(select(*_USER_COLUMNS).where(users.c.id == user_id)))
                .mappings()
                .first()
            )
        return _to_user(row) if row else None

    async def user_by_email(self, email: str) -> User | None:
        async with self._engine.connect() as conn:
            row = (
                (await conn.execute(select(*_USER_COLUMNS).where(users.c.email == email)))
                .mappings()
                .first()
            )
        return _to_user(row) if row else None

    async def user_and_hash_by_email(self, email: str) -> tuple[User, str] | None:
        async with self._engine.connect() as conn:
            row = (
                (await conn.execute(select(users).where(users.c.email == email))).mappings().first()
            )
        return (_to_user(row), row["password_hash"]) if row else None

    async def taken(self, email: str, username: str) -> str | None:
        """Which of the two is already in use ("email", "username"), or None."""
        query = select(users.c.email, users.c.username).where(
            (users.c.email == email) | (users.c.username == username)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        if any(row.email == email for row in rows):
            return "email"
        if rows:
            return "username"
        return None

    async def set_tier(self, user_id: str, tier: Tier) -> bool:
        query = update(users).where(users.c.id == user_id).values(tier=tier.value)
        async with self._engine.begin() as conn:
            return (await conn.execute(query)).rowcount == 1

    async def set_spending_limit(self, user_id: str, micro_usd: int | None) -> None:
        query = (
            update(users)
            .where(users.c.id == user_id)
            .values(monthly_spend_limit_micro_usd=micro_usd)
        )
        async with self._engine.begin() as conn:
            await conn.execute(query)

    async def insert_session(self, values: Mapping[str, Any]) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(insert(sessions).values(**values))

    async def session_by_hash(
        self, token_hash: str, now: datetime
    ) -> tuple[User, str, datetime] | None:
        """(user, csrf token, expiry) of a live session."""
        query = (
            select(*_USER_COLUMNS, sessions.c.csrf_token, sessions.c.expires_at)
            .select_from(sessions.join(users, users.c.id == sessions.c.user_id))
            .where(
                sessions.c.token_hash == token_hash,
                sessions.c.revoked_at.is_(None),
                sessions.c.expires_at > now,
            )
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        if row is None:
            return None
        return _to_user(row), row["csrf_token"], row["expires_at"]

    async def revoke_session(self, token_hash: str, now: datetime) -> None:
        query = (
            update(sessions)
            .where(sessions.c.token_hash == token_hash, sessions.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        async with self._engine.begin() as conn:
            await conn.execute(query)

    async def revoke_all_sessions(
        self, user_id: str, now: datetime, *, except_hash: str | None = None
    ) -> None:
        """Revokes every live session of the user, but the one hashed ``except_hash``."""
        query = update(sessions).where(
            sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None)
        )
        if except_hash is not None:
            query = query.where(sessions.c.token_hash != except_hash)
        async with self._engine.begin() as conn:
            await conn.execute(query.values(revoked_at=now))

    async def password_hash(self, user_id: str) -> str | None:
        query = select(users.c.password_hash).where(users.c.id == user_id)
        async with self._engine.connect() as conn:
            found: str | None = (await conn.execute(query)).scalar_one_or_none()
        return found

    async def set_password_hash(self, user_id: str, password_hash: str) -> bool:
        query = update(users).where(users.c.id == user_id).values(password_hash=password_hash)
        async with self._engine.begin() as conn:
            return (await conn.execute(query)).rowcount == 1
