"""The seam between the service and the scale-out mode, free of optional imports.

`build_queue` picks the TaskQueue from settings: `EmbeddedQueue` (threads in this
process, the default) or, when `redis_url` is set, `DramatiqQueue` (messages to `sideman
worker` processes); dramatiq and redis are imported only in that case. `broker_status`
and `broker_metrics` give /readyz and /metrics what they need to know about the broker.
"""

from __future__ import annotations

import logging
from functools import partial

from sideman.settings import Settings
from sideman.tasks.db import Database
from sideman.tasks.queue import EmbeddedQueue, RunTask, TaskQueue
from sideman.tasks.store import TaskStore

log = logging.getLogger(__name__)

__all__ = ["broker_metrics", "broker_status", "build_queue"]


def build_queue(settings: Settings, *, run_task: RunTask, tasks: TaskStore,
                db: Database) -> TaskQueue:
    """The queue for `settings`: Dramatiq on Redis when redis_url is set, else threads."""
    if settings.redis_url:
        from sideman.tasks.dramatiq_queue import DramatiqQueue, sweep

        return DramatiqQueue(settings=settings,
                             find_lost=partial(sweep, store=tasks, db=db, settings=settings))
    return EmbeddedQueue(
        run_task=run_task,
        find_recoverable=partial(_recoverable, tasks=tasks, settings=settings),
        workers=settings.workers,
        sweep_interval_seconds=max(1.0, settings.task_lease_seconds / 2),
    )


def _recoverable(*, tasks: TaskStore, settings: Settings) -> list[str]:
    """tasks.recoverable(); when the database refuses for a full disk, the stranded
    attempts' partial files (tasks whose lease ran out) are removed first and it is asked
    again, so the sweep itself makes the room it needs."""
    from sideman.storage.space import is_disk_full
    from sideman.tasks.runner import free_stranded

    try:
        return tasks.recoverable(max_attempts=settings.task_max_attempts)
    except Exception as exc:
        if not is_disk_full(exc) or not free_stranded(tasks, settings=settings):
            raise
    return tasks.recoverable(max_attempts=settings.task_max_attempts)


def broker_status(queue: TaskQueue) -> str | None:
    """"ok", "unreachable", or None for a queue without a broker (embedded)."""
    ping = getattr(queue, "ping", None)
    if ping is None:
        return None
    return "ok" if ping() else "unreachable"


def broker_metrics(queue: TaskQueue) -> str:
    """Prometheus lines about the broker's queue ("" for the embedded queue or when the
    broker does not answer):

        sideman_broker_messages{state="waiting|delayed|outstanding"}
    """
    stats = getattr(queue, "stats", None)
    if stats is None:
        return ""
    try:
        current = stats()
    except Exception as exc:
        log.warning("metrics: broker read failed: %s", exc)
        return ""
    lines = ["# HELP sideman_broker_messages Messages of the task queue in the broker: waiting "
             "for a worker, delayed (retries and deferrals), outstanding (not yet acked).",
             "# TYPE sideman_broker_messages gauge"]
    for state in ("waiting", "delayed", "outstanding"):
        lines.append(f'sideman_broker_messages{{state="{state}"}} {getattr(current, state)}')
    return "\n".join(lines) + "\n"
