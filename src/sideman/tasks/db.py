"""The task database: tables, engine and sessions.

SQLite (the default, a file in data_dir) runs in WAL mode with a busy timeout so the
API thread and the worker threads can write side by side. Any SQLAlchemy URL works
(PostgreSQL for scale-out). Tables are created on open; columns added since the first
release are added to an older database on open too (`_add_missing_columns`).

Tables: `tasks` (the source of truth for a task), `api_keys` (hashes and webhook
secrets), `webhook_outbox` (callbacks waiting to be delivered, so they survive a
restart), `uploads` (files uploaded through /api/common/upload/*, with their expiry).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Engine,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

__all__ = [
    "ApiKeyRow",
    "Base",
    "Database",
    "TaskRow",
    "TaskStatus",
    "UploadRow",
    "WebhookRow",
    "WebhookStatus",
    "open_database",
    "utcnow",
]


def utcnow() -> datetime:
    """Now in UTC, without tzinfo (how every time is stored)."""
    return datetime.now(UTC).replace(tzinfo=None)


class TaskStatus(StrEnum):
    NOT_STARTED = "not_started"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"


class Base(DeclarativeBase):
    pass


class TaskRow(Base):
    """One generation task; the source of truth for its state."""

    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_status_lease", "status", "lease_expires_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_key_hash: Mapped[str] = mapped_column(String(64), index=True)
    #: which API family created it ("vidgo"; "suno" for the aliases): decides callback shape
    family: Mapped[str] = mapped_column(String(16), default="vidgo")
    status: Mapped[str] = mapped_column(String(16), default=TaskStatus.NOT_STARTED)
    #: the last StageEvent.stage seen
    stage: Mapped[str | None] = mapped_column(String(16), nullable=True)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    request: Mapped[dict] = mapped_column(JSON)
    manifest: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    #: random per claim; every write of a running task must present it
    claim_token: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ApiKeyRow(Base):
    """An API key: only the SHA-256 of the key is kept, with the key's webhook secret
    (``whsec_...``, kept in clear: signing needs it)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    webhook_secret: Mapped[str | None] = mapped_column(String(100), nullable=True)


class WebhookStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookRow(Base):
    """One callback of one task, from the moment its stage is reached until it is
    delivered or given up. `seq` orders one task's callbacks (text before first before
    complete); (task_id, callback_type) is unique, so a task that runs twice sends each
    callback once."""

    __tablename__ = "webhook_outbox"
    __table_args__ = (
        UniqueConstraint("task_id", "callback_type", name="uq_webhook_task_type"),
        Index("ix_webhook_due", "status", "next_attempt_at"),
    )

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                     primary_key=True, autoincrement=True)
    #: the Standard Webhooks `webhook-id`: the same on every try
    webhook_id: Mapped[str] = mapped_column(String(40), unique=True)
    task_id: Mapped[str] = mapped_column(String(64), index=True)
    owner_key_hash: Mapped[str] = mapped_column(String(64))
    callback_type: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(Text)
    #: the exact bytes sent (UTF-8 JSON), fixed when the stage was reached
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=WebhookStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime)
    #: a sender holds the row until then while it tries (several processes may send)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class UploadRow(Base):
    """A file stored by the upload endpoints; removed with its file after expires_at."""

    __tablename__ = "uploads"

    file_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_key_hash: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    mime_type: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)


@dataclass
class Database:
    engine: Engine
    sessions: sessionmaker

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(url: str) -> Database:
    """Connect (creating the SQLite file and the tables if needed)."""
    parsed = make_url(url)
    is_sqlite = parsed.get_backend_name() == "sqlite"
    connect_args: dict = {}
    if is_sqlite:
        connect_args = {"check_same_thread": False, "timeout": 30}
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args=connect_args)
    if is_sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
    Base.metadata.create_all(engine)
    _add_missing_columns(engine)
    return Database(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API object
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _add_missing_columns(engine: Engine) -> None:
    """ALTER TABLE ... ADD COLUMN for nullable columns a database made by an older
    version lacks (create_all only creates missing tables)."""
    inspector = inspect(engine)
    for table in Base.metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present or not column.nullable:
                continue
            kind = column.type.compile(dialect=engine.dialect)
            with engine.begin() as connection:
                connection.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))
