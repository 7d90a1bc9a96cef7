"""API keys: created once, shown once, stored as their SHA-256 only.

`verify()` compares the hash of the presented key with every active hash using
`hmac.compare_digest`, so timing tells nothing about how close a guess came.
`ensure_local_key()` gives a fresh install a working key with no manual step.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update

from sideman.settings import Settings
from sideman.tasks.db import ApiKeyRow, Database, utcnow

log = logging.getLogger(__name__)

__all__ = ["KeyStore", "LocalKey", "ensure_local_key", "hash_key"]

LOCAL_KEY_FILE = "local-api-key"


def hash_key(plain: str) -> str:
    """The stored form of a key: SHA-256, hex."""
    return hashlib.sha256(plain.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiKeyInfo:
    id: str
    name: str
    key_hash: str


class KeyStore:
    """Keys in the task database, plus any extra plain keys accepted from settings."""

    def __init__(self, db: Database, *, extra_keys: tuple[str, ...] = ()) -> None:
        self._db = db
        self._extra_hashes = tuple(hash_key(k) for k in extra_keys if k)

    def create(self, *, name: str = "") -> str:
        """Make a new key; returns the plain key (the only time it exists)."""
        plain = "sm_" + secrets.token_urlsafe(32)
        with self._db.sessions.begin() as session:
            session.add(
                ApiKeyRow(id=secrets.token_hex(6), key_hash=hash_key(plain), name=name,
                          created_at=utcnow())
            )
        return plain

    def revoke(self, key_id: str) -> bool:
        with self._db.sessions.begin() as session:
            result = session.execute(
                update(ApiKeyRow)
                .where(ApiKeyRow.id == key_id, ApiKeyRow.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
        return result.rowcount == 1

    def active(self) -> list[ApiKeyInfo]:
        with self._db.sessions() as session:
            rows = session.scalars(select(ApiKeyRow).where(ApiKeyRow.revoked_at.is_(None))).all()
            return [ApiKeyInfo(id=r.id, name=r.name, key_hash=r.key_hash) for r in rows]

    def verify(self, plain: str) -> str | None:
        """The owner hash of a valid key, or None."""
        presented = hash_key(plain)
        match = None
        for stored in [k.key_hash for k in self.active()] + list(self._extra_hashes):
            if hmac.compare_digest(presented, stored):
                match = stored
        return match


@dataclass(frozen=True)
class LocalKey:
    """A key this server can show its local user. source: "file" | "created" | "settings"."""

    plain: str
    source: str


def ensure_local_key(*, settings: Settings, keys: KeyStore) -> LocalKey | None:
    """The key to print at start and to give the page on loopback.

    1. `data_dir/local-api-key` holding a still-active key: that one.
    2. no active key stored and none in settings: create one, store its hash and write
       the plain key to that file (mode 0600).
    3. settings.api_key, if set. Otherwise None (keys exist; use one you were given).
    """
    path = settings.data_dir / LOCAL_KEY_FILE
    if path.is_file():
        plain = path.read_text(encoding="utf-8").strip()
        if plain and keys.verify(plain) is not None:
            return LocalKey(plain=plain, source="file")
    if not keys.active() and not settings.api_key:
        plain = keys.create(name="local")
        _write_private(path, plain + "\n")
        log.info("created the first API key; its plain text is in %s", path)
        return LocalKey(plain=plain, source="created")
    if settings.api_key:
        return LocalKey(plain=settings.api_key, source="settings")
    return None


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)
