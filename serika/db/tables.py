"""The schema, as SQLAlchemy Core tables. Migrations in ``migrations/`` create exactly this."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    false,
)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

users = Table(
    "users",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("tier", String(16), nullable=False, server_default="free"),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("monthly_spend_limit_micro_usd", BigInteger(), nullable=True),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Index("ix_sessions_user_id", "user_id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("key_hash", String(64), nullable=False),
    Column("hint", String(16), nullable=False),
    Column("permissions", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("last_used_at", UTCDateTime(), nullable=True),
    Column("total_requests", BigInteger(), nullable=False, server_default="0"),
    Column("total_tokens", BigInteger(), nullable=False, server_default="0"),
    Column("total_images", BigInteger(), nullable=False, server_default="0"),
    Index("ix_api_keys_key_hash", "key_hash", unique=True),
    Index("ix_api_keys_user_id_created_at", "user_id", "created_at"),
)

# Usage outlives keys (billing must not change after the fact): no foreign key on key_id.
usage_records = Table(
    "usage_records",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("key_id", String(32), nullable=True),
    Column("endpoint", String(64), nullable=False),
    Column("model", String(128), nullable=True),
    Column("status", Integer(), nullable=False),
    Column("prompt_tokens", Integer(), nullable=False, server_default="0"),
    Column("completion_tokens", Integer(), nullable=False, server_default="0"),
    Column("images", Integer(), nullable=False, server_default="0"),
    Column("cost_micro_usd", BigInteger(), nullable=False, server_default="0"),
    Column("latency_ms", Integer(), nullable=False, server_default="0"),
    Column("estimated", Boolean(), nullable=False, server_default=false()),
    # How many calls the record counts: 1, or identical unbilled calls of one second (GET
    # /models at thousands a second), whose latency_ms is then their total.
    Column("requests", Integer(), nullable=False, server_default="1"),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_usage_records_user_id_created_at", "user_id", "created_at"),
    Index("ix_usage_records_key_id_created_at", "key_id", "created_at"),
)

characters = Table(
    "characters",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("owner_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("description", Text(), nullable=False),
    Column("system_prompt", Text(), nullable=False),
    Column("personality", Text(), nullable=False),
    Column("scenario", Text(), nullable=False),
    Column("starter_message", Text(), nullable=False),
    Column("is_nsfw", Boolean(), nullable=False, server_default=false()),
    Column("is_public", Boolean(), nullable=False, server_default=false()),
    Column("avatar", String(128), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_characters_is_public_created_at", "is_public", "created_at", "id"),
    Index("ix_characters_owner_id_created_at", "owner_id", "created_at", "id"),
)

character_tags = Table(
    "character_tags",
    metadata,
    Column(
        "character_id",
        String(32),
        ForeignKey("characters.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("tag", String(32), primary_key=True),
    Index("ix_character_tags_tag", "tag", "character_id"),
)

# Words of a character's name, description and tags, for indexed prefix search on any database.
character_terms = Table(
    "character_terms",
    metadata,
    Column(
        "character_id",
        String(32),
        ForeignKey("characters.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("term", String(32), primary_key=True),
    Index("ix_character_terms_term", "term", "character_id"),
)

# Asynchronous image jobs: rows survive restarts; workers claim them (see serika.images.store).
image_jobs = Table(
    "image_jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("key_id", String(32), nullable=True),
    Column("endpoint", String(64), nullable=False),
    Column("model", String(128), nullable=False),
    Column("request", Text(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer(), nullable=False, server_default="0"),
    Column("claimed_by", String(128), nullable=True),
    Column("lease_expires_at", UTCDateTime(), nullable=True),
    Column("result", Text(), nullable=True),
    Column("error", Text(), nullable=True),
    Column("error_code", String(64), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("started_at", UTCDateTime(), nullable=True),
    Column("finished_at", UTCDateTime(), nullable=True),
    # what the job reserved against its account's spending cap when submitted (settled when
    # it ends: a failed job gives it back)
    Column("reserved_micro_usd", BigInteger(), nullable=False, server_default="0"),
    Index("ix_image_jobs_user_id_created_at", "user_id", "created_at"),
    Index("ix_image_jobs_status_created_at", "status", "created_at"),
)
