"""Limits at the door: per-key rate limits and request body size caps.

`RateLimiter`: a token bucket per (key, bucket name), refilled continuously at
`per_minute / 60` tokens a second, holding at most `per_minute`. Over it: 429 with
`Retry-After` (whole seconds until a token is back). Buckets live in the process
(the embedded default is one process; behind a load balancer each process limits
on its own).

`BodySizeLimit`: an ASGI middleware that refuses a request body over the cap of its
route with 413 — from `Content-Length` before reading anything, or while the body
streams in (chunked uploads) as soon as the count passes the cap, so nothing larger
than the cap is ever buffered.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sideman.api.errors import error_response

__all__ = ["BodySizeLimit", "RateLimiter"]


class RateLimiter:
    """Token buckets; `take()` answers how many seconds to wait (0: go ahead)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}

    def take(self, key: str, *, bucket: str, per_minute: int) -> float:
        """Take one token; 0.0 when allowed, else the seconds until one is back.
        per_minute 0 means no limit."""
        if per_minute <= 0:
            return 0.0
        rate = per_minute / 60.0
        now = self._clock()
        with self._lock:
            tokens, stamp = self._buckets.get((key, bucket), (float(per_minute), now))
            tokens = min(float(per_minute), tokens + (now - stamp) * rate)
            if tokens >= 1.0:
                self._buckets[(key, bucket)] = (tokens - 1.0, now)
                return 0.0
            self._buckets[(key, bucket)] = (tokens, now)
            return (1.0 - tokens) / rate

    @staticmethod
    def retry_after(wait_seconds: float) -> str:
        return str(max(1, math.ceil(wait_seconds)))


class BodySizeLimit:
    """Cap request bodies; `cap_for(path)` gives the byte cap of a path (None: none)."""

    def __init__(self, app: ASGIApp, *, cap_for: Callable[[str], int | None]) -> None:
        self.app = app
        self.cap_for = cap_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        cap = self.cap_for(scope.get("path", ""))
        if cap is None:
            await self.app(scope, receive, send)
            return
        announced = _content_length(scope)
        if announced is not None and announced > cap:
            await _too_large(cap)(scope, receive, send)
            return
        seen = 0
        over = False
        started = False

        async def counted_receive() -> Message:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    over = True
                    raise HTTPException(413, _message(cap))
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over and not started and message["type"] == "http.response.start":
                started = True
                await _too_large(cap)(scope, _empty_receive, send)
                return
            if over and started:
                return  # the app's own answer to the broken body is dropped
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except HTTPException:
            if not started:
                await _too_large(cap)(scope, _empty_receive, send)
            else:
                raise


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _message(cap: int) -> str:
    return f"the request body is larger than the {cap} byte limit"


def _too_large(cap: int) -> ASGIApp:
    return error_response(413, _message(cap), headers={"Connection": "close"})


async def _empty_receive() -> Message:
    return {"type": "http.disconnect"}
