"""Scale-out: the TaskQueue on Dramatiq and Redis, and the actor every worker runs.

The API enqueues with `DramatiqQueue.enqueue(task_id)` (one Dramatiq message per
request to run); `sideman worker` processes (sideman.worker) consume the queue and call
the very `TaskRunner.run(task_id)` the embedded queue calls. Imported only when
``settings.redis_url`` is set: the embedded default never imports dramatiq or redis.

At least once, seen once:

- a message is acked only after `TaskRunner.run` returns; a worker killed mid-task
  (SIGKILL, OOM) stops heartbeating and, after `broker_heartbeat_timeout_seconds`,
  another worker's broker maintenance puts its unacked message back on the queue;
- the task record decides, not the message: a claim succeeds only for a task that is
  `not_started` or whose lease ran out, so a message delivered while the task runs
  elsewhere is *deferred* (re-sent with a delay until that lease ends) and a message for
  a finished task is dropped; a second attempt starts from an empty result folder;
- a Transient failure releases the task and raises `dramatiq.Retry` with a delay of
  `task_retry_backoff_seconds * 2**(attempt-1)` (capped); the runner fails the task
  after `task_max_attempts` claims, so a poison task ends `failed`;
- `sweep()` (the API runs it every half lease; every worker process too) fails tasks
  whose lease ran out with no attempts left and re-sends tasks that lost their message
  (lease expired, or `not_started` for longer than `stale_task_seconds`).

Long numpy work and the heartbeats: a worker is taken for dead when its broker heartbeat
(every Redis command of its Dramatiq consumers) or its task lease (TaskRunner's
heartbeat thread) stops for longer than its timeout. Both are sent from threads, and a
long C call that holds the GIL starves every thread of the process. So the worker runs
the pipeline in a forked child (sideman.tasks.isolation, `worker_isolation=process`):
the worker process itself only waits on a pipe and relays stage events. With prefetch 1
a busy worker's main consumer sends nothing while it runs a task; `BrokerHeartbeat`
(middleware) beats from its own thread so the heartbeat never depends on the consumers.
Tests: `test_long_numpy_task_is_not_redelivered`, `test_a_gil_holding_task_is_not_redelivered`
and its control `test_without_process_isolation_a_gil_holding_task_runs_twice`
(tests/test_scaleout.py) run tasks longer than both timeouts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

import dramatiq
import redis
from dramatiq.brokers.redis import MAINTENANCE_SCALE, RedisBroker
from dramatiq.middleware import Middleware
from sqlalchemy import or_, select

from sideman.settings import Settings
from sideman.tasks.db import Database, TaskRow, TaskStatus, utcnow
from sideman.tasks.runner import Outcome

if TYPE_CHECKING:
    from sideman.tasks.store import TaskStore

log = logging.getLogger(__name__)

__all__ = [
    "ACTOR_NAME",
    "BrokerHeartbeat",
    "DramatiqQueue",
    "QueueStats",
    "build_broker",
    "declare_actor",
    "queue_stats",
    "sweep",
]

ACTOR_NAME = "sideman_run_task"
RunTask = Callable[[str], Outcome]


def build_broker(settings: Settings, *, heartbeat: bool = True) -> RedisBroker:
    """The Redis broker for `settings` (URL, namespace, heartbeat timeout), with
    Dramatiq's default middleware plus `BrokerHeartbeat` (unless heartbeat=False: only
    tests that show why it is needed turn it off). Raises ValueError without a redis_url.
    """
    if not settings.redis_url:
        raise ValueError("settings.redis_url is not set: the scale-out queue needs Redis")
    # timeouts: a Redis that stops answering is an error (and /readyz a 503), not a hang
    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=5,
                                  socket_timeout=30, health_check_interval=30)
    broker = RedisBroker(
        client=client,
        namespace=settings.redis_namespace,
        heartbeat_timeout=int(settings.broker_heartbeat_timeout_seconds * 1000),
        maintenance_chance=min(MAINTENANCE_SCALE, settings.broker_maintenance_per_million),
    )
    if heartbeat:
        broker.add_middleware(BrokerHeartbeat(
            queue_name=settings.queue_name,
            interval_seconds=settings.broker_heartbeat_timeout_seconds / 4,
        ))
    return broker


def declare_actor(broker: RedisBroker, settings: Settings,
                  handler: Callable[[str], None] | None = None) -> dramatiq.Actor:
    """Declare the task actor on `broker`. The API declares it without a handler (it only
    sends); a worker passes `handler` (see `message_handler`)."""

    def sideman_run_task(task_id: str) -> None:
        if handler is None:
            raise RuntimeError("this process only enqueues tasks; run `sideman worker`")
        handler(task_id)

    return dramatiq.actor(
        sideman_run_task,
        actor_name=ACTOR_NAME,
        queue_name=settings.queue_name,
        broker=broker,
        max_retries=settings.broker_max_retries,
        min_backoff=int(settings.task_retry_backoff_seconds * 1000),
        max_backoff=int(settings.task_retry_max_backoff_seconds * 1000),
        time_limit=int(settings.task_time_limit_seconds * 1000),
    )


def message_handler(*, run_task: RunTask, store: TaskStore,
                    settings: Settings) -> Callable[[str], None]:
    """What a worker does with one message: run the task, and turn the outcome into
    Dramatiq's terms (return = ack; `dramatiq.Retry` = send again after a delay)."""

    def handle(task_id: str) -> None:
        outcome = run_task(task_id)
        if outcome is Outcome.RETRY:
            task = store.get(task_id)
            attempt = task.attempts if task is not None else 1
            delay = min(settings.task_retry_max_backoff_seconds,
                        settings.task_retry_backoff_seconds * 2 ** max(0, attempt - 1))
            log.warning("task %s: transient failure on attempt %d; retrying in %.1f s",
                        task_id, attempt, delay)
            raise dramatiq.Retry(f"task {task_id}: transient failure", delay=int(delay * 1000))
        if outcome is Outcome.SKIPPED:
            _defer_if_running_elsewhere(task_id, store=store, settings=settings)

    return handle


def _defer_if_running_elsewhere(task_id: str, *, store: TaskStore, settings: Settings) -> None:
    """A message for a task another worker holds: come back when that lease would end
    (if that worker died, this message is the one that carries the task on)."""
    task = store.get(task_id)
    if task is None or task.status != TaskStatus.RUNNING or task.lease_expires_at is None:
        return  # finished, failed or gone: nothing to do, ack
    remaining = (task.lease_expires_at - utcnow()).total_seconds()
    if remaining <= 0:
        # expired with no attempts left: the sweep fails it
        store.recoverable(max_attempts=settings.task_max_attempts)
        return
    log.info("task %s: running elsewhere; looking again in %.1f s", task_id, remaining + 1)
    raise dramatiq.Retry(f"task {task_id} is running elsewhere", delay=int((remaining + 1) * 1000))


def sweep(*, store: TaskStore, db: Database, settings: Settings) -> list[str]:
    """Ids of tasks that may have lost their message: running with an expired lease
    (attempts left), or `not_started` and untouched for `stale_task_seconds`. Tasks
    whose lease ran out with no attempts left are failed on the way (TaskStore)."""
    candidates = store.recoverable(max_attempts=settings.task_max_attempts)
    if not candidates:
        return []
    cutoff = utcnow() - timedelta(seconds=settings.stale_task_seconds)
    with db.sessions() as session:
        rows = session.scalars(
            select(TaskRow.id).where(
                TaskRow.id.in_(candidates),
                or_(TaskRow.status == TaskStatus.RUNNING, TaskRow.updated_at < cutoff),
            )
        ).all()
    return list(rows)


class DramatiqQueue:
    """The TaskQueue of the scale-out mode, as the API holds it: enqueue sends a message;
    start/stop run the sweeper thread; join waits until the queue has no messages."""

    def __init__(
        self,
        *,
        settings: Settings,
        find_lost: Callable[[], list[str]] | None = None,
        broker: RedisBroker | None = None,
        sweep_interval_seconds: float | None = None,
    ) -> None:
        self._settings = settings
        self.broker = broker or build_broker(settings)
        self.actor = declare_actor(self.broker, settings)
        self._find_lost = find_lost
        self._sweep_interval_seconds = sweep_interval_seconds or max(
            1.0, settings.task_lease_seconds / 2)
        self._stopping = threading.Event()
        self._sweeper: threading.Thread | None = None
        self._unsent: set[str] = set()
        self._unsent_lock = threading.Lock()

    def enqueue(self, task_id: str) -> None:
        """Send the task's message. With Redis away the task stays `not_started` in the
        database (it is accepted all the same); the sweeper tries again every half lease
        (and any sweeper sends it once it is `stale_task_seconds` old)."""
        try:
            self.actor.send(task_id)
        except Exception as exc:
            log.error("task %s: could not reach the broker (%s); the sweeper will send it "
                      "again", task_id, exc)
            with self._unsent_lock:
                self._unsent.add(task_id)
            return
        with self._unsent_lock:
            self._unsent.discard(task_id)

    def start(self) -> None:
        if self._sweeper is not None or self._find_lost is None:
            return
        self._stopping.clear()
        self._sweep_once()
        self._sweeper = threading.Thread(target=self._sweep_loop, name="sideman-sweeper",
                                         daemon=True)
        self._sweeper.start()

    def stop(self, *, timeout_seconds: float = 10.0) -> None:
        self._stopping.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout_seconds)
            self._sweeper = None

    def join(self, timeout_seconds: float | None = None) -> bool:
        deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
        while queue_stats(self.broker, self._settings.queue_name).outstanding:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True

    def stats(self) -> QueueStats:
        return queue_stats(self.broker, self._settings.queue_name)

    def ping(self) -> bool:
        """True when Redis answers (for /readyz)."""
        try:
            return bool(self.broker.client.ping())
        except Exception as exc:
            log.warning("redis ping failed: %s", exc)
            return False

    def _sweep_loop(self) -> None:
        while not self._stopping.wait(self._sweep_interval_seconds):
            self._sweep_once()

    def _sweep_once(self) -> None:
        try:
            with self._unsent_lock:
                unsent = sorted(self._unsent)
            for task_id in unsent:
                self.enqueue(task_id)
            lost = self._find_lost() if self._find_lost else []
            for task_id in lost:
                self.enqueue(task_id)
            if lost:
                log.info("re-sent %d task(s) that had lost their message", len(lost))
        except Exception:
            log.exception("sweep failed (will try again)")


class QueueStats:
    """Messages of one queue: `waiting` (in the queue), `delayed` (retries and deferrals
    waiting for their time), `outstanding` (every message not yet acked, running included).
    """

    __slots__ = ("delayed", "outstanding", "waiting")

    def __init__(self, *, waiting: int, delayed: int, outstanding: int) -> None:
        self.waiting = waiting
        self.delayed = delayed
        self.outstanding = outstanding


def queue_stats(broker: RedisBroker, queue_name: str) -> QueueStats:
    """Read the queue's sizes straight from Redis (Dramatiq's key layout)."""
    prefix = f"{broker.namespace}:{queue_name}"
    pipe = broker.client.pipeline()
    pipe.llen(prefix)
    pipe.hlen(f"{prefix}.DQ.msgs")
    pipe.hlen(f"{prefix}.msgs")
    waiting, delayed, messages = pipe.execute()
    return QueueStats(waiting=int(waiting), delayed=int(delayed),
                      outstanding=int(messages) + int(delayed))


class BrokerHeartbeat(Middleware):
    """Keeps a worker process's broker heartbeat going from a thread of its own.

    Dramatiq's Redis broker records a heartbeat on every command it sends; a consumer
    whose prefetch buffer is full sends none while a long task runs. This thread sends a
    cheap command (`qsize`) every `interval_seconds`, so only a process that is really
    gone (killed, frozen) is taken for dead.
    """

    def __init__(self, *, queue_name: str, interval_seconds: float) -> None:
        self.queue_name = queue_name
        self.interval_seconds = interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker, worker) -> None:  # noqa: ANN001 - dramatiq hook
        self._stop.clear()

        def beat() -> None:
            while not self._stop.wait(self.interval_seconds):
                try:
                    broker.do_qsize(self.queue_name)
                except Exception as exc:  # Redis away: the consumer reports it too
                    log.warning("broker heartbeat failed: %s", exc)

        self._thread = threading.Thread(target=beat, name="sideman-broker-heartbeat",
                                        daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker, worker) -> None:  # noqa: ANN001 - dramatiq hook
        self._stop.set()


def run_sweeper(*, store: TaskStore, db: Database, settings: Settings,
                send: Callable[[str], None], stop: threading.Event) -> threading.Thread:
    """A daemon thread that calls `sweep` every half lease and sends what it finds."""

    def loop() -> None:
        while not stop.wait(max(1.0, settings.task_lease_seconds / 2)):
            try:
                for task_id in sweep(store=store, db=db, settings=settings):
                    send(task_id)
            except Exception:
                log.exception("sweep failed (will try again)")

    thread = threading.Thread(target=loop, name="sideman-sweeper", daemon=True)
    thread.start()
    return thread

