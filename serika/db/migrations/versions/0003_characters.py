"""Characters, their tags and search terms, and the sample public characters.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from serika.characters.samples import SAMPLES, SAMPLES_OWNER_ID, SAMPLES_OWNER_NAME
from serika.characters.terms import terms_for
from serika.db.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SAMPLES_CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def upgrade() -> None:
    characters = op.create_table(
        "characters",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("owner_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("system_prompt", sa.Text(), nullable=False),
        sa.Column("personality", sa.Text(), nullable=False),
        sa.Column("scenario", sa.Text(), nullable=False),
        sa.Column("starter_message", sa.Text(), nullable=False),
        sa.Column("is_nsfw", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("is_public", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("avatar", sa.String(128), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_characters"),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name="fk_characters_owner_id_users", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_characters_is_public_created_at", "characters", ["is_public", "created_at"])
    op.create_index("ix_characters_owner_id_created_at", "characters", ["owner_id", "created_at"])
    tags = op.create_table(
        "character_tags",
        sa.Column("character_id", sa.String(32), nullable=False),
        sa.Column("tag", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("character_id", "tag", name="pk_character_tags"),
        sa.ForeignKeyConstraint(
            ["character_id"],
            ["characters.id"],
            name="fk_character_tags_character_id_characters",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_character_tags_tag", "character_tags", ["tag", "character_id"])
    terms = op.create_table(
        "character_terms",
        sa.Column("character_id", sa.String(32), nullable=False),
        sa.Column("term", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("character_id", "term", name="pk_character_terms"),
        sa.ForeignKeyConstraint(
            ["character_id"],
            ["characters.id"],
            name="fk_character_terms_character_id_characters",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_character_terms_term", "character_terms", ["term", "character_id"])

    users = sa.table(
        "users",
        sa.column("id"),
        sa.column("email"),
        sa.column("username"),
        sa.column("password_hash"),
        sa.column("tier"),
        sa.column("created_at", UTCDateTime()),
    )
    op.bulk_insert(
        users,
        [
            {
                "id": SAMPLES_OWNER_ID,
                "email": "samples@serika.invalid",
                "username": SAMPLES_OWNER_NAME,
                "password_hash": "!no-login",
                "tier": "free",
                "created_at": SAMPLES_CREATED,
            }
        ],
    )
    rows, tag_rows, term_rows = [], [], []
    for n, sample in enumerate(SAMPLES):
        tags_of = [str(t) for t in sample["tags"]]  # type: ignore[attr-defined]
        fields = {k: v for k, v in sample.items() if k != "tags"}
        created = SAMPLES_CREATED.replace(minute=n)
        rows.append(
            {
                **fields,
                "owner_id": SAMPLES_OWNER_ID,
                "is_public": True,
                "avatar": None,
                "created_at": created,
                "updated_at": created,
            }
        )
        tag_rows += [{"character_id": sample["id"], "tag": t} for t in tags_of]
        texts = [str(sample["name"]), str(sample["description"]), *tags_of]
        term_rows += [{"character_id": sample["id"], "term": t} for t in terms_for(texts)]
    op.bulk_insert(characters, rows)
    op.bulk_insert(tags, tag_rows)
    op.bulk_insert(terms, term_rows)


def downgrade() -> None:
    op.drop_table("character_terms")
    op.drop_table("character_tags")
    op.drop_table("characters")
    op.execute(sa.text("DELETE FROM users WHERE id = :id").bindparams(id=SAMPLES_OWNER_ID))
