"""Callback delivery: POST the detail body (plus data.callback_type) to callback_url.

Best effort, in one background thread so the order of one task's callbacks is kept:
one try, then one retry after each of `retry_delays_seconds` (1 s, 2 s, 4 s by default),
any 2xx within the timeout counts, redirects are not followed, private addresses are
refused (unless allowed) on every try. A delivery that finally fails is logged and
dropped; it never fails the task, whose result stays available by polling.

Left for later: the Standard Webhooks signature headers, a persistent outbox (so a
callback survives a restart) and the longer configurable retry schedule.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from sideman.errors import FetchError
from sideman.ingest.fetch import Resolver, check_url

log = logging.getLogger(__name__)

__all__ = ["CallbackSender", "Delivery"]


@dataclass(frozen=True)
class Delivery:
    url: str
    body: dict
    task_id: str
    callback_type: str


class CallbackSender:
    """A queue of deliveries and the thread that sends them."""

    def __init__(
        self,
        *,
        timeout_seconds: float = 10.0,
        retry_delays_seconds: tuple[float, ...] = (1.0, 2.0, 4.0),
        allow_private: bool = False,
        transport: httpx.BaseTransport | None = None,
        resolver: Resolver | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._timeout_seconds = timeout_seconds
        self._delays = tuple(retry_delays_seconds)
        self._allow_private = allow_private
        self._transport = transport
        self._resolver = resolver
        self._stopping = threading.Event()
        self._sleep = sleep or self._interruptible_sleep
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def send(self, delivery: Delivery) -> None:
        self._queue.put(delivery)

    def start(self) -> None:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._loop, name="sideman-callbacks", daemon=True)
            self._thread.start()

    def stop(self, *, timeout_seconds: float = 5.0) -> None:
        """Stop after what is queued has been tried once more (waits between retries are
        cut short), or after the timeout."""
        if self._thread is None:
            return
        self._stopping.set()
        self._queue.put(None)
        self._thread.join(timeout_seconds)
        self._thread = None

    def join(self, timeout_seconds: float | None = None) -> bool:
        """Wait until every queued delivery has been tried; False on timeout (tests)."""
        deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
        while self._queue.unfinished_tasks:
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def deliver(self, delivery: Delivery) -> bool:
        """Try one delivery with its retries; True when a 2xx came back."""
        attempts = 1 + len(self._delays)
        with httpx.Client(
            follow_redirects=False, timeout=self._timeout_seconds, transport=self._transport
        ) as client:
            for attempt in range(attempts):
                if attempt:
                    self._sleep(self._delays[attempt - 1])
                try:
                    check_url(delivery.url, allow_private=self._allow_private,
                              what="callback_url", resolver=self._resolver)
                except FetchError as exc:
                    log.warning("task %s: callback %s refused: %s",
                                delivery.task_id, delivery.callback_type, exc)
                    return False
                try:
                    response = client.post(delivery.url, json=delivery.body)
                    if 200 <= response.status_code < 300:
                        log.info("task %s: callback %s delivered", delivery.task_id,
                                 delivery.callback_type)
                        return True
                    reason = f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    reason = type(exc).__name__
                log.warning("task %s: callback %s try %d/%d failed: %s", delivery.task_id,
                            delivery.callback_type, attempt + 1, attempts, reason)
        return False

    def _loop(self) -> None:
        while True:
            delivery = self._queue.get()
            try:
                if delivery is None:
                    return
                self.deliver(delivery)
            except Exception:  # a bad delivery must not stop the thread
                log.exception("callback delivery crashed")
            finally:
                self._queue.task_done()

    def _interruptible_sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)
