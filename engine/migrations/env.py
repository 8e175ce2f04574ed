"""Alembic environment: runs on the connection the engine hands over (never reads alembic.ini)."""

from __future__ import annotations

from typing import Any

from alembic import context

from engine.store import Base

target_metadata = Base.metadata


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        from engine.store import database_url, make_engine

        with make_engine(database_url()).begin() as conn:
            _migrate(conn)
        return
    _migrate(connection)


def _migrate(connection: Any) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


run()
