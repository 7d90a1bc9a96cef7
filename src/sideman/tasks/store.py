"""TaskStore: create, read, claim and update task records.

Every change of a running task is one UPDATE guarded by the claim token, so a worker
whose lease ran out (and whose task another worker took over) cannot overwrite the
newer state. Claiming is one UPDATE too: ``status='not_started' OR lease expired``.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update

from sideman.tasks.db import Database, TaskRow, TaskStatus, utcnow

log = logging.getLogger(__name__)

__all__ = ["Task", "TaskStore"]


@dataclass(frozen=True)
class Task:
    """A snapshot of one task record (times are naive UTC)."""

    id: str
    owner_key_hash: str
    family: str
    status: str
    stage: str | None
    progress: int
    request: dict
    manifest: dict | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    attempts: int
    lease_expires_at: datetime | None


class TaskStore:
    """Task records in the database (see sideman.tasks.db)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def db(self) -> Database:
        return self._db

    def create(self, *, owner_key_hash: str, request: dict, family: str = "vidgo") -> Task:
        now = utcnow()
        row = TaskRow(
            id=uuid.uuid4().hex,  # 122 random bits from os.urandom: unguessable
            owner_key_hash=owner_key_hash,
            family=family,
            status=TaskStatus.NOT_STARTED,
            progress=0,
            request=request,
            created_at=now,
            updated_at=now,
            attempts=0,
        )
        with self._db.sessions.begin() as session:
            session.add(row)
            session.flush()
            return _snapshot(row)

    def get(self, task_id: str) -> Task | None:
        with self._db.sessions() as session:
            row = session.get(TaskRow, task_id)
            return _snapshot(row) if row is not None else None

    def claim(self, task_id: str, *, lease_seconds: float, max_attempts: int) -> str | None:
        """Take the task for one run; returns the claim token, or None if it is not free."""
        now = utcnow()
        token = secrets.token_hex(16)
        statement = (
            update(TaskRow)
            .where(TaskRow.id == task_id, _claimable(now, max_attempts=max_attempts))
            .values(
                status=TaskStatus.RUNNING,
                claim_token=token,
                attempts=TaskRow.attempts + 1,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                updated_at=now,
                error_message=None,
            )
        )
        with self._db.sessions.begin() as session:
            claimed = session.execute(statement).rowcount == 1
        return token if claimed else None

    def renew(self, task_id: str, token: str, *, lease_seconds: float) -> bool:
        now = utcnow()
        return self._update_running(
            task_id, token, lease_expires_at=now + timedelta(seconds=lease_seconds), updated_at=now
        )

    def record_stage(
        self, task_id: str, token: str, *, stage: str, progress: int, manifest: dict | None,
        lease_seconds: float,
    ) -> bool:
        now = utcnow()
        values: dict = {
            "stage": stage,
            "progress": max(0, min(99, int(progress))),
            "updated_at": now,
            "lease_expires_at": now + timedelta(seconds=lease_seconds),
        }
        if manifest:
            values["manifest"] = manifest
        return self._update_running(task_id, token, **values)

    def finish(self, task_id: str, token: str, *, manifest: dict) -> bool:
        now = utcnow()
        return self._update_running(
            task_id, token, status=TaskStatus.FINISHED, stage="complete", progress=100,
            manifest=manifest, updated_at=now, finished_at=now, lease_expires_at=None,
            claim_token=None,
        )

    def fail(self, task_id: str, token: str, *, message: str) -> bool:
        now = utcnow()
        return self._update_running(
            task_id, token, status=TaskStatus.FAILED, error_message=message, updated_at=now,
            finished_at=now, lease_expires_at=None, claim_token=None,
        )

    def release(self, task_id: str, token: str, *, refund_attempt: bool = False) -> bool:
        """Hand a running task back to the queue (a Transient failure worth another try;
        refund_attempt: the claim did no pipeline work, e.g. it only downloaded the input)."""
        values: dict = {"status": TaskStatus.NOT_STARTED, "updated_at": utcnow(),
                        "lease_expires_at": None, "claim_token": None}
        if refund_attempt:
            values["attempts"] = TaskRow.attempts - 1
        return self._update_running(task_id, token, **values)

    def set_source(self, task_id: str, token: str, *, source: dict) -> bool:
        """Point a running task at another input (its downloaded upload_url)."""
        task = self.get(task_id)
        if task is None:
            return False
        request = dict(task.request, source=source)
        return self._update_running(task_id, token, request=request, updated_at=utcnow())

    def recoverable(self, *, max_attempts: int) -> list[str]:
        """Ids of tasks a worker should pick up: not started, or running with an expired
        lease. Expired tasks that used up their attempts are failed here instead."""
        now = utcnow()
        exhausted = (
            update(TaskRow)
            .where(
                TaskRow.status == TaskStatus.RUNNING,
                TaskRow.lease_expires_at < now,
                TaskRow.attempts >= max_attempts,
            )
            .values(
                status=TaskStatus.FAILED,
                error_message=f"the task was interrupted {max_attempts} times and was given up",
                updated_at=now, finished_at=now, lease_expires_at=None, claim_token=None,
            )
        )
        with self._db.sessions.begin() as session:
            given_up = session.execute(exhausted).rowcount
            ids = session.scalars(
                select(TaskRow.id).where(_claimable(now, max_attempts=max_attempts)).order_by(TaskRow.created_at)
            ).all()
        if given_up:
            log.warning("gave up %d task(s) that were interrupted too often", given_up)
        return list(ids)

    def expired_running(self) -> list[str]:
        """Ids of running tasks whose lease ran out (their worker is gone). A read only:
        it works on a full disk."""
        with self._db.sessions() as session:
            return list(session.scalars(select(TaskRow.id).where(
                TaskRow.status == TaskStatus.RUNNING, TaskRow.lease_expires_at < utcnow())).all())

    def _update_running(self, task_id: str, token: str, **values: object) -> bool:
        statement = (
            update(TaskRow)
            .where(
                TaskRow.id == task_id,
                TaskRow.status == TaskStatus.RUNNING,
                TaskRow.claim_token == token,
            )
            .values(**values)
        )
        with self._db.sessions.begin() as session:
            changed = session.execute(statement).rowcount == 1
        if not changed:
            log.warning("task %s: lost its claim; update ignored", task_id)
        return changed


def _claimable(now: datetime, *, max_attempts: int):  # noqa: ANN202 - a SQL expression
    return or_(
        TaskRow.status == TaskStatus.NOT_STARTED,
        and_(
            TaskRow.status == TaskStatus.RUNNING,
            TaskRow.lease_expires_at < now,
            TaskRow.attempts < max_attempts,
        ),
    )


def _snapshot(row: TaskRow) -> Task:
    return Task(
        id=row.id,
        owner_key_hash=row.owner_key_hash,
        family=row.family,
        status=row.status,
        stage=row.stage,
        progress=row.progress,
        request=dict(row.request or {}),
        manifest=dict(row.manifest) if row.manifest else None,
        error_message=row.error_message,
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
        attempts=row.attempts,
        lease_expires_at=row.lease_expires_at,
    )
