"""A bounded pool of threads with a per-key limit: downloads and callbacks run here,
never on a request thread nor on a pipeline worker.

`KeyedPool(workers=8, per_key=2)` runs at most 8 jobs at once and at most 2 of any one
key (an API key for downloads, a host for callbacks); a key's further jobs wait in order
while other keys' jobs go ahead, so one client pointing at a slow host delays only
itself. `submit(..., max_waiting_per_key=n)` refuses (`PoolBusy`) instead of queueing
past n jobs of that key.

    >>> pool = KeyedPool(workers=2, per_key=1, name="demo")
    >>> pool.submit("a", lambda: 41 + 1).result()
    42
    >>> pool.shutdown()
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["KeyedPool", "PoolBusy"]

#: a thread with nothing to do for this long ends (an idle server holds no pool threads)
IDLE_EXIT_SECONDS = 10.0


class PoolBusy(Exception):
    """The key already has as many jobs running and waiting as it may."""


@dataclass(frozen=True)
class _Job:
    key: str
    run: Callable[[], Any]
    future: Future


class KeyedPool:
    """Threads started on demand, up to `workers`; see the module docstring."""

    def __init__(self, *, workers: int, per_key: int, name: str = "sideman-pool") -> None:
        if workers < 1 or per_key < 1:
            raise ValueError(f"workers and per_key must be at least 1, got {workers}, {per_key}")
        self._workers = workers
        self._per_key = per_key
        self._name = name
        self._lock = threading.Condition()
        self._waiting: deque[_Job] = deque()
        self._running: dict[str, int] = {}
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._closed = False

    def submit(self, key: str, run: Callable[[], Any], *,
               max_waiting_per_key: int | None = None) -> Future:
        """Queue `run()` under `key`; its Future holds the result or the exception.

        Raises PoolBusy when `max_waiting_per_key` is given and the key already has that
        many jobs running or waiting; RuntimeError after shutdown()."""
        future: Future = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self._name} is shut down")
            if max_waiting_per_key is not None and self.load(key) >= max_waiting_per_key:
                raise PoolBusy(f"{key} has {self.load(key)} jobs running or waiting")
            self._waiting.append(_Job(key=key, run=run, future=future))
            if self._idle == 0 and len(self._threads) < self._workers:
                thread = threading.Thread(target=self._work, daemon=True,
                                          name=f"{self._name}-{len(self._threads)}")
                self._threads.append(thread)
                thread.start()
            self._lock.notify_all()
        return future

    def load(self, key: str) -> int:
        """Jobs of `key` running or waiting."""
        with self._lock:
            return self._running.get(key, 0) + sum(1 for job in self._waiting if job.key == key)

    def running(self, key: str) -> int:
        with self._lock:
            return self._running.get(key, 0)

    def shutdown(self, *, timeout_seconds: float = 5.0) -> None:
        """Cancel what waits; let running jobs finish (up to the timeout)."""
        with self._lock:
            self._closed = True
            while self._waiting:
                self._waiting.popleft().future.cancel()
            self._lock.notify_all()
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout_seconds)

    def _next(self) -> _Job | None:
        """The first waiting job whose key is under its limit (lock held)."""
        for job in self._waiting:
            if self._running.get(job.key, 0) < self._per_key:
                self._waiting.remove(job)
                self._running[job.key] = self._running.get(job.key, 0) + 1
                return job
        return None

    def _work(self) -> None:
        while True:
            with self._lock:
                job = self._next()
                idle_since = time.monotonic()
                while job is None:
                    if self._closed or time.monotonic() - idle_since > IDLE_EXIT_SECONDS:
                        # an idle thread ends; submit() starts another when work comes
                        self._threads.remove(threading.current_thread())
                        return
                    self._idle += 1
                    self._lock.wait(1.0)
                    self._idle -= 1
                    job = self._next()
            try:
                if job.future.set_running_or_notify_cancel():
                    try:
                        job.future.set_result(job.run())
                    except BaseException as exc:  # the Future carries it to the caller
                        job.future.set_exception(exc)
            finally:
                with self._lock:
                    left = self._running[job.key] - 1
                    if left:
                        self._running[job.key] = left
                    else:
                        del self._running[job.key]
                    self._lock.notify_all()
