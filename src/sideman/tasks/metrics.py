"""`/metrics` in the Prometheus text format (version 0.0.4), read from the database, so
every process behind one database reports the same numbers.

    sideman_tasks{status="..."}                  tasks kept, by status (gauge)
    sideman_queue_depth                          tasks waiting for a worker (gauge)
    sideman_task_failures                        failed tasks kept (gauge)
    sideman_task_attempts_total                  claims of the kept tasks (counter-like)
    sideman_task_duration_seconds_bucket/_sum/_count
                                                 submit-to-finish time of finished tasks
    sideman_webhook_deliveries{status="..."}     outbox rows by status (gauge)
    sideman_uploads                              uploads kept (gauge)

Numbers cover what retention still keeps (14 days of tasks by default).
"""

from __future__ import annotations

from sqlalchemy import func, select

from sideman.tasks.db import Database, TaskRow, TaskStatus, UploadRow, WebhookRow, WebhookStatus

__all__ = ["CONTENT_TYPE", "render_metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DURATION_BUCKETS_SECONDS = (5, 10, 30, 60, 120, 300, 600, 1800)


def render_metrics(db: Database) -> str:
    with db.sessions() as session:
        by_status = dict(session.execute(
            select(TaskRow.status, func.count()).group_by(TaskRow.status)).all())
        attempts = session.scalar(select(func.coalesce(func.sum(TaskRow.attempts), 0))) or 0
        spans = session.execute(
            select(TaskRow.created_at, TaskRow.finished_at)
            .where(TaskRow.status == TaskStatus.FINISHED, TaskRow.finished_at.is_not(None))
        ).all()
        deliveries = dict(session.execute(
            select(WebhookRow.status, func.count()).group_by(WebhookRow.status)).all())
        uploads = session.scalar(select(func.count()).select_from(UploadRow)) or 0
    durations = [max(0.0, (done - created).total_seconds()) for created, done in spans]

    lines = ["# HELP sideman_tasks Tasks kept, by status.", "# TYPE sideman_tasks gauge"]
    for status in TaskStatus:
        lines.append(f'sideman_tasks{{status="{status.value}"}} {by_status.get(status.value, 0)}')
    lines += ["# HELP sideman_queue_depth Tasks waiting for a worker.",
              "# TYPE sideman_queue_depth gauge",
              f"sideman_queue_depth {by_status.get(TaskStatus.NOT_STARTED.value, 0)}",
              "# HELP sideman_task_failures Failed tasks kept.",
              "# TYPE sideman_task_failures gauge",
              f"sideman_task_failures {by_status.get(TaskStatus.FAILED.value, 0)}",
              "# HELP sideman_task_attempts_total Claims of the tasks kept.",
              "# TYPE sideman_task_attempts_total counter",
              f"sideman_task_attempts_total {attempts}",
              "# HELP sideman_task_duration_seconds Submit-to-finish time of finished tasks.",
              "# TYPE sideman_task_duration_seconds histogram"]
    for bound in DURATION_BUCKETS_SECONDS:
        count = sum(1 for d in durations if d <= bound)
        lines.append(f'sideman_task_duration_seconds_bucket{{le="{bound}"}} {count}')
    lines += [f'sideman_task_duration_seconds_bucket{{le="+Inf"}} {len(durations)}',
              f"sideman_task_duration_seconds_sum {sum(durations):.3f}",
              f"sideman_task_duration_seconds_count {len(durations)}",
              "# HELP sideman_webhook_deliveries Callbacks in the outbox, by status.",
              "# TYPE sideman_webhook_deliveries gauge"]
    for status in WebhookStatus:
        lines.append(f'sideman_webhook_deliveries{{status="{status.value}"}} '
                     f"{deliveries.get(status.value, 0)}")
    lines += ["# HELP sideman_uploads Uploaded files kept.", "# TYPE sideman_uploads gauge",
              f"sideman_uploads {uploads}"]
    return "\n".join(lines) + "\n"
