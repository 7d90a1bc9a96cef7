"""Schema migrations of the task database (Alembic), for SQLite and PostgreSQL alike.

Which path a database takes:

- SQLite (the embedded default): ``open_database`` keeps creating the tables with
  ``create_all`` (plus ``_add_missing_columns``), so the default install never imports
  Alembic (an optional extra). ``tests/test_scaleout_db.py`` proves that ``upgrade
  head`` builds the same schema as ``create_all`` on SQLite and on PostgreSQL (Alembic's
  own comparison finds no difference), so either path gives the same tables.
- Any other URL (PostgreSQL for scale-out): the API and every worker call
  ``prepare_database(url)`` before ``open_database``; it runs ``upgrade head`` under a
  PostgreSQL advisory lock, so many processes starting at once migrate once. A database
  made by ``create_all`` before migrations existed (tables, no ``alembic_version``) is
  stamped at the first revision, then upgraded.

A new column or table: change ``sideman.tasks.db``, add a revision under ``versions/``
(by hand: the next number, ``down_revision`` the previous one; or
``alembic.command.revision(alembic_config(), message=...)``), set HEAD_REVISION, and
``tests/test_scaleout_db.py`` checks that the migrated schema still equals the models.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Connection, make_url

log = logging.getLogger(__name__)

__all__ = ["FIRST_REVISION", "HEAD_REVISION", "prepare_database", "upgrade_database"]

MIGRATIONS_DIR = Path(__file__).resolve().parent
FIRST_REVISION = "0001"
HEAD_REVISION = "0001"
_LOCK_KEY = 0x51DE3A4  # the advisory lock id of schema upgrades


def prepare_database(url: str) -> None:
    """Bring a non-SQLite database to the newest schema; SQLite is left to
    ``open_database`` (create_all). Raises whatever the driver raises when the database
    does not answer."""
    if make_url(url).get_backend_name() == "sqlite":
        return
    upgrade_database(url)


def upgrade_database(url: str, *, revision: str = "head") -> None:
    """``alembic upgrade <revision>`` on `url` (any backend)."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            _upgrade(connection, revision=revision)
    finally:
        engine.dispose()


def _upgrade(connection: Connection, *, revision: str) -> None:
    from alembic import command

    config = alembic_config(connection)
    tables = set(inspect(connection).get_table_names())
    if "tasks" in tables and "alembic_version" not in tables:
        log.info("database made before migrations: stamping revision %s", FIRST_REVISION)
        command.stamp(config, FIRST_REVISION)
    command.upgrade(config, revision)


def alembic_config(connection: Connection | None = None):  # noqa: ANN201 - alembic.config.Config
    """An Alembic Config for this folder; with `connection`, env.py runs on it."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config
