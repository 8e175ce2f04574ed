"""A group's name in other languages (org.yaml `names: {zh_CN: ...}`), shown to users who read them.

Revision ID: group_names
Revises: user_locale
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "group_names"
down_revision = "user_locale"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("groups") as batch:
        batch.add_column(sa.Column("names", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("groups") as batch:
        batch.drop_column("names")
