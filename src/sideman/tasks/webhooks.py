"""Standard Webhooks signatures (https://www.standardwebhooks.com/), both sides.

A callback carries three headers:

- ``webhook-id``: the message id, the same on every retry of one callback (receivers
  use it to drop duplicates);
- ``webhook-timestamp``: seconds since the epoch when this try was sent;
- ``webhook-signature``: ``v1,`` + base64 of HMAC-SHA256 over
  ``{webhook-id}.{webhook-timestamp}.{body}``, keyed with the bytes of the key's
  ``whsec_`` secret (the base64 after the prefix).

    >>> secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    >>> headers = sign_headers(secret=secret, webhook_id="msg_1", timestamp=1700000000, body=b"{}")
    >>> verify_signature(secret=secret, headers=headers, body=b"{}", now=1700000001)
    True
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping

__all__ = ["SIGNATURE_TOLERANCE_SECONDS", "sign", "sign_headers", "verify_signature"]

#: how far a receiver lets webhook-timestamp stray from its clock (the spec's suggestion)
SIGNATURE_TOLERANCE_SECONDS = 300


def sign(*, secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,<base64 HMAC-SHA256>``."""
    key = _secret_bytes(secret)
    message = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def sign_headers(*, secret: str | None, webhook_id: str, timestamp: int,
                 body: bytes) -> dict[str, str]:
    """The three headers (without a signature when there is no secret)."""
    headers = {"webhook-id": webhook_id, "webhook-timestamp": str(timestamp)}
    if secret:
        headers["webhook-signature"] = sign(secret=secret, webhook_id=webhook_id,
                                            timestamp=timestamp, body=body)
    return headers


def verify_signature(*, secret: str, headers: Mapping[str, str], body: bytes,
                     now: float | None = None,
                     tolerance_seconds: float = SIGNATURE_TOLERANCE_SECONDS) -> bool:
    """What a receiver does: True when one of the space-separated ``v1,`` signatures
    matches and the timestamp is within the tolerance."""
    lowered = {k.lower(): v for k, v in headers.items()}
    webhook_id = lowered.get("webhook-id", "")
    stamp = lowered.get("webhook-timestamp", "")
    if not webhook_id or not stamp.isdigit():
        return False
    current = time.time() if now is None else now
    if abs(current - int(stamp)) > tolerance_seconds:
        return False
    expected = sign(secret=secret, webhook_id=webhook_id, timestamp=int(stamp), body=body)
    return any(hmac.compare_digest(expected, candidate)
               for candidate in lowered.get("webhook-signature", "").split())


def _secret_bytes(secret: str) -> bytes:
    raw = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError:
        return raw.encode("utf-8")
