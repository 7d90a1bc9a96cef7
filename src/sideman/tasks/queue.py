"""When tasks run: the TaskQueue protocol and its implementations.

- `EmbeddedQueue`: N worker threads in this process (the default install). On start it
  re-enqueues every task left `not_started` or `running` with an expired lease, and a
  sweeper repeats that every half lease, so neither a restart nor a dead worker loses a
  task.
- `StubQueue`: the test double; tasks run in the caller's thread on `join()`.

A scale-out queue (Dramatiq on Redis) implements the same four methods and calls the
same `TaskRunner.run(task_id)` in its workers.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from sideman.tasks.runner import Outcome

log = logging.getLogger(__name__)

__all__ = ["EmbeddedQueue", "StubQueue", "TaskQueue"]

RunTask = Callable[[str], Outcome]
FindRecoverable = Callable[[], list[str]]


@runtime_checkable
class TaskQueue(Protocol):
    def enqueue(self, task_id: str) -> None:
        """Ask for the task to be run (at least once; running it twice is harmless)."""
        ...

    def start(self) -> None:
        """Start working, picking up tasks left over from before."""
        ...

    def stop(self, *, timeout_seconds: float = 10.0) -> None:
        """Stop taking tasks; wait up to the timeout for running ones."""
        ...

    def join(self, timeout_seconds: float | None = None) -> bool:
        """Wait until nothing is queued or running; False on timeout (for tests)."""
        ...


class EmbeddedQueue:
    """In-process worker threads."""

    def __init__(
        self,
        *,
        run_task: RunTask,
        find_recoverable: FindRecoverable,
        workers: int = 1,
        sweep_interval_seconds: float = 60.0,
    ) -> None:
        self._run_task = run_task
        self._find_recoverable = find_recoverable
        self._workers = workers
        self._sweep_interval_seconds = sweep_interval_seconds
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Condition()
        self._waiting: set[str] = set()
        self._busy = 0
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def enqueue(self, task_id: str) -> None:
        with self._lock:
            if task_id in self._waiting:
                return
            self._waiting.add(task_id)
        self._queue.put(task_id)

    def start(self) -> None:
        if self._threads:
            return
        self._stopping.clear()
        self._recover()
        for number in range(self._workers):
            thread = threading.Thread(target=self._work, name=f"sideman-worker-{number}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)
        sweeper = threading.Thread(target=self._sweep, name="sideman-sweeper", daemon=True)
        sweeper.start()
        self._threads.append(sweeper)
        log.info("embedded queue started with %d worker(s)", self._workers)

    def stop(self, *, timeout_seconds: float = 10.0) -> None:
        self._stopping.set()
        for _ in range(self._workers):
            self._queue.put(None)
        deadline = time.monotonic() + timeout_seconds
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in self._threads):
            log.warning("a task was still running at stop; its lease will expire and it "
                        "will be picked up again at the next start")
        self._threads = []

    def join(self, timeout_seconds: float | None = None) -> bool:
        deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
        with self._lock:
            while self._waiting or self._busy:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._lock.wait(remaining)
        return True

    def _work(self) -> None:
        while True:
            task_id = self._queue.get()
            if task_id is None or self._stopping.is_set():
                return
            with self._lock:
                self._waiting.discard(task_id)
                self._busy += 1
            try:
                outcome = self._run_task(task_id)
            except Exception:
                log.exception("task %s: the worker crashed", task_id)
                outcome = Outcome.SKIPPED
            finally:
                with self._lock:
                    self._busy -= 1
                    self._lock.notify_all()
            if outcome is Outcome.RETRY and not self._stopping.is_set():
                self.enqueue(task_id)

    def _recover(self) -> None:
        try:
            task_ids = self._find_recoverable()
        except Exception:
            log.exception("could not look for tasks to recover")
            return
        if task_ids:
            log.info("re-enqueued %d task(s) left from before", len(task_ids))
        for task_id in task_ids:
            self.enqueue(task_id)

    def _sweep(self) -> None:
        while not self._stopping.wait(self._sweep_interval_seconds):
            self._recover()


class StubQueue:
    """Remembers enqueued ids; `join()` runs them, one by one, in the calling thread."""

    def __init__(self, *, run_task: RunTask, find_recoverable: FindRecoverable | None = None):
        self._run_task = run_task
        self._find_recoverable = find_recoverable
        self.pending: list[str] = []

    def enqueue(self, task_id: str) -> None:
        if task_id not in self.pending:
            self.pending.append(task_id)

    def start(self) -> None:
        for task_id in self._find_recoverable() if self._find_recoverable else []:
            self.enqueue(task_id)

    def stop(self, *, timeout_seconds: float = 10.0) -> None:
        pass

    def join(self, timeout_seconds: float | None = None) -> bool:
        while self.pending:
            task_id = self.pending.pop(0)
            if self._run_task(task_id) is Outcome.RETRY:
                self.pending.append(task_id)
        return True
