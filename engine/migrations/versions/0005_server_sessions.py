"""Login sessions kept on the server (so they can be ended) and failed logins per account and address.

Revision ID: server_sessions
Revises: group_names
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import engine.store

revision = "server_sessions"
down_revision = "group_names"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("created_at", engine.store.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", engine.store.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["username"], ["users.username"]),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_web_sessions_username", "web_sessions", ["username"])
    op.create_table(
        "login_failures",
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("strikes", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", engine.store.UTCDateTime(timezone=True), nullable=False),
        sa.Column("locked_until", engine.store.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("username", "address"),
    )


def downgrade() -> None:
    op.drop_table("login_failures")
    op.drop_index("ix_web_sessions_username", "web_sessions")
    op.drop_table("web_sessions")
