"""Retention: results live `result_retention_days` (14 days), uploads
`upload_retention_hours` (72 h). `clean_up()` removes what is older, files and rows
together; `Janitor` runs it every `cleanup_interval_seconds` in a background thread.

A task is old when it finished or failed more than the retention ago (a task still
waiting or running is never removed). Its result folder, its outbox rows and its
record go. An upload goes when its row expires; an upload file without a row (written
by an older version, or left by a crash) goes when its modification time is older
than the upload retention.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from sideman.settings import Settings
from sideman.storage import LocalBlobStore
from sideman.tasks.db import Database, TaskRow, TaskStatus, UploadRow, WebhookRow, utcnow

log = logging.getLogger(__name__)

__all__ = ["CleanupReport", "Janitor", "clean_up"]

_BATCH = 500


@dataclass(frozen=True)
class CleanupReport:
    tasks_removed: int
    uploads_removed: int


def clean_up(*, db: Database, settings: Settings, results: LocalBlobStore,
             uploads: LocalBlobStore, now: datetime | None = None) -> CleanupReport:
    """Remove expired results and uploads (files first, then rows)."""
    now = now or utcnow()
    result_cutoff = now - timedelta(days=settings.result_retention_days)
    tasks_removed = 0
    while True:
        with db.sessions() as session:
            old = session.scalars(
                select(TaskRow.id).where(
                    TaskRow.status.in_((TaskStatus.FINISHED, TaskStatus.FAILED)),
                    TaskRow.finished_at < result_cutoff,
                ).limit(_BATCH)
            ).all()
        if not old:
            break
        for task_id in old:
            results.delete(task_id)
        with db.sessions.begin() as session:
            session.execute(delete(WebhookRow).where(WebhookRow.task_id.in_(old)))
            session.execute(delete(TaskRow).where(TaskRow.id.in_(old)))
        tasks_removed += len(old)

    uploads_removed = 0
    with db.sessions() as session:
        expired = session.scalars(select(UploadRow.file_name).where(UploadRow.expires_at < now)).all()
        known = set(session.scalars(select(UploadRow.file_name)).all())
    for file_name in expired:
        uploads.delete(file_name)
    if expired:
        with db.sessions.begin() as session:
            session.execute(delete(UploadRow).where(UploadRow.file_name.in_(expired)))
        uploads_removed += len(expired)
    orphan_cutoff = time.time() - settings.upload_retention_hours * 3600
    for path in uploads.root.iterdir():
        if path.is_file() and path.name not in known and path.stat().st_mtime < orphan_cutoff:
            path.unlink(missing_ok=True)
            uploads_removed += 1
    if tasks_removed or uploads_removed:
        log.info("retention: removed %d task(s) and %d upload(s)", tasks_removed, uploads_removed)
    return CleanupReport(tasks_removed=tasks_removed, uploads_removed=uploads_removed)


class Janitor:
    """Runs `clean_up` at start and then every interval, until stopped."""

    def __init__(self, *, db: Database, settings: Settings, results: LocalBlobStore,
                 uploads: LocalBlobStore) -> None:
        self._run = lambda: clean_up(db=db, settings=settings, results=results, uploads=uploads)
        self._interval_seconds = settings.cleanup_interval_seconds
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._loop, name="sideman-janitor", daemon=True)
            self._thread.start()

    def stop(self, *, timeout_seconds: float = 5.0) -> None:
        if self._thread is not None:
            self._stopping.set()
            self._thread.join(timeout_seconds)
            self._thread = None

    def _loop(self) -> None:
        while True:
            try:
                self._run()
            except Exception:
                log.exception("retention clean-up failed; will try again")
            if self._stopping.wait(self._interval_seconds):
                return
