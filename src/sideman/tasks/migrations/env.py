"""Alembic environment: runs on the connection `sideman.tasks.migrations` hands over
(config.attributes["connection"]), or on ``sqlalchemy.url`` from an alembic.ini."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from sideman.tasks.db import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:  # noqa: ANN001 - sqlalchemy Connection
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER on SQLite
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("sideman migrations run online only (they need a connection)")
run_migrations_online()
