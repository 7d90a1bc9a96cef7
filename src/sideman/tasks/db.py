"""The task database: tables, engine and sessions.

SQLite (the default, a file in data_dir) runs in WAL mode with a busy timeout so the
API thread and the worker threads can write side by side. Any SQLAlchemy URL works
(PostgreSQL for scale-out). Tables are created on open; migrations come later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from sqlalchemy import JSON, DateTime, Engine, Index, Integer, String, Text, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

__all__ = ["ApiKeyRow", "Base", "Database", "TaskRow", "TaskStatus", "open_database", "utcnow"]


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
    """An API key: only the SHA-256 of the key is kept."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


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
    return Database(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API object
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
