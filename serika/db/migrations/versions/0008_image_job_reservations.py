"""Image jobs remember the cost they reserved against the spending cap when submitted.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("image_jobs") as batch:
        batch.add_column(
            sa.Column("reserved_micro_usd", sa.BigInteger(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("image_jobs") as batch:
        batch.drop_column("reserved_micro_usd")
