"""Callback delivery from a durable outbox.

`CallbackSender.send()` writes the callback (url, the exact body bytes, a `webhook-id`)
to the `webhook_outbox` table and returns; a background thread delivers what is due,
so a callback reached before a crash is still delivered after the restart. Each try:

- is signed per Standard Webhooks (sideman.tasks.webhooks) with the owner key's
  ``whsec_`` secret; `webhook-id` is the same on every try, the timestamp is the try's;
- gets `timeout_seconds` (10 s) to answer 2xx; redirects are not followed (a 3xx is a
  failed try); the URL is checked against private addresses and the connection goes to
  the checked address (sideman.ingest.fetch.guarded_transport);
- when it fails, the next one waits `retry_delays_seconds` (1 s, 2 s, 4 s), then
  `backoff_seconds` (the longer, configurable schedule); after the last the row is
  marked `failed`. A refused address fails the row at once.

One task's callbacks go out in the order they were reached (text, first, complete): a
row waits while an earlier row of its task is still pending. (task_id, callback_type)
is unique, so a task that runs twice (after a restart) sends each callback once. A
delivery that fails never touches the task: its result stays available by polling.
Rows are claimed with a short lock, so several processes may share one outbox.

Delivery runs on a pool of `workers` threads (sideman.ingest.pool.KeyedPool keyed by
the receiver's host), at most `per_host` at once to one host: a receiver that hangs for
its whole timeout delays its own callbacks, never another host's.

Delivery is at least once: a sender killed after the receiver got a callback but
before the row was marked delivered sends it again after a restart, with the same
`webhook-id`, which is what receivers deduplicate on.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from sideman.errors import FetchError
from sideman.ingest.fetch import Resolver, check_url, guarded_transport
from sideman.ingest.pool import KeyedPool
from sideman.tasks.db import Database, WebhookRow, WebhookStatus, utcnow
from sideman.tasks.webhooks import sign_headers

log = logging.getLogger(__name__)

__all__ = ["CallbackSender", "Delivery"]

SecretLookup = Callable[[str], "str | None"]
_BATCH = 20
#: a row being tried is locked for the timeout plus this; a sender that dies mid-try
#: (SIGKILL) leaves the lock, and the row is tried again once it has run out
LOCK_MARGIN_SECONDS = 5.0


@dataclass(frozen=True)
class Delivery:
    """One callback to send: `body` is serialised once, when it is queued."""

    url: str
    body: dict
    task_id: str
    callback_type: str
    owner_key_hash: str = ""


class CallbackSender:
    """The outbox (rows in the task database) and the thread that empties it."""

    def __init__(
        self,
        *,
        db: Database,
        secret_for: SecretLookup | None = None,
        timeout_seconds: float = 10.0,
        retry_delays_seconds: tuple[float, ...] = (1.0, 2.0, 4.0),
        backoff_seconds: tuple[float, ...] = (),
        allow_private: bool = False,
        transport: httpx.BaseTransport | None = None,
        resolver: Resolver | None = None,
        poll_interval_seconds: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
        workers: int = 8,
        per_host: int = 2,
    ) -> None:
        """secret_for: owner key hash -> its whsec_ secret (None: send unsigned).
        workers, per_host: callbacks in flight at once, in all and to one host.
        transport, resolver, clock: for tests."""
        self._db = db
        self._secret_for = secret_for or (lambda _hash: None)
        self._timeout_seconds = timeout_seconds
        self._schedule = tuple(retry_delays_seconds) + tuple(backoff_seconds)
        self._allow_private = allow_private
        self._transport = transport
        self._resolver = resolver
        self._poll_interval_seconds = poll_interval_seconds
        self._clock = clock
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._per_host = per_host
        self._workers = workers
        self._pool = KeyedPool(workers=workers, per_key=per_host, name="sideman-callback")
        self._in_flight: set[int] = set()
        self._in_flight_lock = threading.Lock()

    @property
    def max_tries(self) -> int:
        return 1 + len(self._schedule)

    def send(self, delivery: Delivery) -> bool:
        """Queue a callback; False when this task already queued one of this type."""
        now = self._clock()
        row = WebhookRow(
            webhook_id="msg_" + secrets.token_hex(16), task_id=delivery.task_id,
            owner_key_hash=delivery.owner_key_hash, callback_type=delivery.callback_type,
            url=delivery.url, body=json.dumps(delivery.body, separators=(",", ":")),
            status=WebhookStatus.PENDING, attempts=0, next_attempt_at=now, created_at=now,
        )
        try:
            with self._db.sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            log.info("task %s: callback %s was queued before; not again", delivery.task_id,
                     delivery.callback_type)
            return False
        self._wake.set()
        return True

    def start(self) -> None:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._loop, name="sideman-callbacks",
                                            daemon=True)
            self._thread.start()

    def stop(self, *, timeout_seconds: float = 5.0) -> None:
        """Stop the thread (a try in flight may finish); what is pending stays in the
        outbox for the next start."""
        if self._thread is None:
            return
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout_seconds)
        self._thread = None

    def join(self, timeout_seconds: float | None = None) -> bool:
        """Wait until no callback is pending; False on timeout (tests)."""
        deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
        while self.pending_count():
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def pending_count(self) -> int:
        with self._db.sessions() as session:
            return session.scalar(select(func.count()).select_from(WebhookRow).where(
                WebhookRow.status == WebhookStatus.PENDING)) or 0

    def run_once(self) -> int:
        """Try every callback that is due once (on the pool, waiting for them); returns
        how many were tried."""
        futures = self._dispatch()
        for future in futures:
            future.result()
        return len(futures)

    # --- the loop ---------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                started = len(self._dispatch())
                wait = 0.0 if started else self._seconds_to_next_due()
                with self._in_flight_lock:
                    busy = bool(self._in_flight)
                if not started and busy:
                    # what is due waits for a host's slot: a finishing try wakes us
                    wait = max(wait, self._poll_interval_seconds)
            except Exception:  # a bad row or a database hiccup must not stop the thread
                log.exception("callback delivery crashed")
                wait = self._poll_interval_seconds
            if wait > 0:
                self._wake.wait(wait)
                self._wake.clear()

    def _dispatch(self) -> list:
        """Claim what is due and whose host has a free slot; start each on the pool."""
        futures = []
        for seq, host in self._claim_due():
            with self._in_flight_lock:
                self._in_flight.add(seq)
            futures.append(self._pool.submit(host, lambda seq=seq: self._try_and_wake(seq)))
        return futures

    def _try_and_wake(self, seq: int) -> None:
        try:
            self._try(seq)
        except Exception:
            log.exception("callback %d: delivery crashed", seq)
        finally:
            with self._in_flight_lock:
                self._in_flight.discard(seq)
            self._wake.set()

    def _seconds_to_next_due(self) -> float:
        with self._db.sessions() as session:
            due = session.scalar(select(func.min(WebhookRow.next_attempt_at)).where(
                WebhookRow.status == WebhookStatus.PENDING))
        if due is None:
            return self._poll_interval_seconds
        seconds = (due - self._clock()).total_seconds()
        return min(self._poll_interval_seconds, max(0.005, seconds))

    def _claim_due(self) -> list[int]:
        now = self._clock()
        earlier = aliased(WebhookRow)
        blocked = select(earlier.seq).where(
            earlier.task_id == WebhookRow.task_id, earlier.seq < WebhookRow.seq,
            earlier.status == WebhookStatus.PENDING,
        ).exists()
        free = (WebhookRow.locked_until.is_(None)) | (WebhookRow.locked_until < now)
        with self._db.sessions() as session:
            rows = session.execute(
                select(WebhookRow.seq, WebhookRow.url)
                .where(WebhookRow.status == WebhookStatus.PENDING,
                       WebhookRow.next_attempt_at <= now, free, ~blocked)
                .order_by(WebhookRow.seq).limit(_BATCH)
            ).all()
        claimed: list[tuple[int, str]] = []
        lock_until = now + timedelta(seconds=self._timeout_seconds + LOCK_MARGIN_SECONDS)
        taking: dict[str, int] = {}
        for seq, url in rows:
            with self._in_flight_lock:
                if len(self._in_flight) + len(claimed) >= self._workers:
                    break  # every thread busy: a claimed row must not wait out its lock
                if seq in self._in_flight:
                    continue
            host = _host_of(url)
            if self._pool.load(host) + taking.get(host, 0) >= self._per_host:
                continue  # this host has its share in flight; the row waits, unlocked
            with self._db.sessions.begin() as session:
                taken = session.execute(
                    update(WebhookRow)
                    .where(WebhookRow.seq == seq, WebhookRow.status == WebhookStatus.PENDING,
                           free)
                    .values(locked_until=lock_until)
                ).rowcount == 1
            if taken:
                claimed.append((seq, host))
                taking[host] = taking.get(host, 0) + 1
        return claimed

    def _try(self, seq: int) -> None:
        with self._db.sessions() as session:
            row = session.get(WebhookRow, seq)
            if row is None:
                return
            session.expunge(row)
        try:
            check_url(row.url, allow_private=self._allow_private, what="callback_url",
                      resolver=self._resolver)
            reason = self._post(row)
        except FetchError as exc:
            log.warning("task %s: callback %s refused: %s", row.task_id, row.callback_type, exc)
            self._finish(row, status=WebhookStatus.FAILED, error=str(exc))
            return
        if reason is None:
            log.info("task %s: callback %s delivered", row.task_id, row.callback_type)
            self._finish(row, status=WebhookStatus.DELIVERED, error=None)
            return
        tries = row.attempts + 1
        if tries >= self.max_tries:
            log.warning("task %s: callback %s failed %d times (%s); given up (the result "
                        "stays available by polling)", row.task_id, row.callback_type, tries,
                        reason)
            self._finish(row, status=WebhookStatus.FAILED, error=reason)
            return
        delay = self._schedule[tries - 1]
        log.warning("task %s: callback %s try %d/%d failed: %s; next in %g s", row.task_id,
                    row.callback_type, tries, self.max_tries, reason, delay)
        with self._db.sessions.begin() as session:
            session.execute(update(WebhookRow).where(WebhookRow.seq == seq).values(
                attempts=tries, last_error=reason, locked_until=None,
                next_attempt_at=self._clock() + timedelta(seconds=delay)))

    def _post(self, row: WebhookRow) -> str | None:
        """One try; None on a 2xx, else why it failed."""
        body = row.body.encode("utf-8")
        headers = {"content-type": "application/json", "user-agent": "sideman/0.1 (+webhooks)"}
        headers.update(sign_headers(secret=self._secret_for(row.owner_key_hash),
                                    webhook_id=row.webhook_id, timestamp=int(time.time()),
                                    body=body))
        transport = self._transport or guarded_transport(
            allow_private=self._allow_private, what="callback_url", resolver=self._resolver)
        try:
            with httpx.Client(follow_redirects=False, timeout=self._timeout_seconds,
                              transport=transport, trust_env=False) as client:
                response = client.post(row.url, content=body, headers=headers)
        except httpx.TimeoutException:
            return f"no answer within {self._timeout_seconds:g} s"
        except httpx.HTTPError as exc:
            return type(exc).__name__
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"

    def _finish(self, row: WebhookRow, *, status: str, error: str | None) -> None:
        now = self._clock()
        with self._db.sessions.begin() as session:
            session.execute(update(WebhookRow).where(WebhookRow.seq == row.seq).values(
                status=status, attempts=row.attempts + 1, last_error=error, locked_until=None,
                finished_at=now))


def _host_of(url: str) -> str:
    """The pool key of a receiver: its host (and port), lower case."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return (parts.netloc or url).lower()
