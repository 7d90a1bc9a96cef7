"""Admission control: new work (uploads, submits) is refused with 507 Insufficient Storage
while the data folder's disk has less than `settings.min_free_disk_bytes` free, or while
the caller's key holds `settings.key_storage_quota_bytes` or more (uploads, downloaded
inputs and the result files of its tasks). Polling, downloads of results and every
other read keep working.

The message says what was measured, so a client can tell "the server is full, try
later" from "your key is full, delete or wait for retention"."""

from __future__ import annotations

import logging

from sqlalchemy import func, select

from sideman.api.deps import Caller, Services
from sideman.api.errors import ApiError
from sideman.errors import InsufficientStorage
from sideman.storage.space import check_free_space, folder_bytes
from sideman.tasks.db import TaskRow, TaskStatus, UploadRow

log = logging.getLogger(__name__)

__all__ = ["admit", "key_usage_bytes"]


def admit(services: Services, caller: Caller) -> None:
    """Raise ApiError(507) when there is no room for new work (see the module docstring)."""
    settings = services.settings
    try:
        check_free_space(settings.data_dir, min_free_bytes=settings.min_free_disk_bytes)
    except InsufficientStorage as exc:
        log.warning("refused new work: %s", exc)
        raise ApiError(507, str(exc)) from exc
    quota = settings.key_storage_quota_bytes
    if quota <= 0:
        return
    used = key_usage_bytes(services, caller.key_hash)
    if used >= quota:
        raise ApiError(507, f"this key's storage quota is used up ({used} of {quota} bytes in "
                            "uploads and results); files expire after the retention period")


def key_usage_bytes(services: Services, key_hash: str) -> int:
    """Bytes a key holds: its uploads (and downloaded inputs) by their rows, and the
    result folders of its tasks as they are on disk."""
    with services.db.sessions() as session:
        uploaded = session.scalar(select(func.coalesce(func.sum(UploadRow.size_bytes), 0))
                                  .where(UploadRow.owner_key_hash == key_hash)) or 0
        task_ids = session.scalars(select(TaskRow.id).where(
            TaskRow.owner_key_hash == key_hash,
            TaskRow.status.in_([TaskStatus.FINISHED, TaskStatus.RUNNING]))).all()
    results = services.settings.results_dir
    return int(uploaded) + sum(folder_bytes(results / task_id) for task_id in task_ids)
