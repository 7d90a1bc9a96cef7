"""API keys: created once, shown once, stored as their SHA-256 only.

`verify()` compares the hash of the presented key with every active hash using
`hmac.compare_digest`, so timing tells nothing about how close a guess came.
`ensure_local_key()` gives a fresh install a working key with no manual step.

Each key has a webhook secret (``whsec_`` + base64 of 24 random bytes, the Standard
Webhooks format) that signs the callbacks of its tasks; it is shown once, when the key
is created. `create_key`, `list_keys` and `revoke_key` are what `sideman keys` calls.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import select, update

from sideman.settings import Settings
from sideman.tasks.db import ApiKeyRow, Database, open_database, utcnow

log = logging.getLogger(__name__)

__all__ = [
    "ApiKeyInfo",
    "CreatedKey",
    "KeyStore",
    "LocalKey",
    "create_key",
    "derived_webhook_secret",
    "ensure_local_key",
    "hash_key",
    "list_keys",
    "new_webhook_secret",
    "revoke_key",
]

LOCAL_KEY_FILE = "local-api-key"
LOCAL_SECRET_FILE = "local-webhook-secret"
WEBHOOK_SECRET_PREFIX = "whsec_"


def hash_key(plain: str) -> str:
    """The stored form of a key: SHA-256, hex."""
    return hashlib.sha256(plain.encode("utf-8")).hexdigest()


def new_webhook_secret() -> str:
    """A fresh Standard Webhooks secret: ``whsec_`` + base64 of 24 random bytes."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def derived_webhook_secret(plain_key: str) -> str:
    """The secret of a key given in settings (no row to keep a random one in): a
    one-way function of the key, so it stays the same across restarts."""
    digest = hmac.new(plain_key.encode("utf-8"), b"sideman webhook secret", hashlib.sha256)
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(digest.digest()[:24]).decode("ascii")


class CreatedKey(NamedTuple):
    """A new key and its webhook secret: the only time either is shown."""

    key: str
    webhook_secret: str


@dataclass(frozen=True)
class ApiKeyInfo:
    id: str
    name: str
    key_hash: str
    created_at: datetime | None = None
    revoked_at: datetime | None = None


class KeyStore:
    """Keys in the task database, plus any extra plain keys accepted from settings."""

    def __init__(self, db: Database, *, extra_keys: tuple[str, ...] = (),
                 extra_secrets: dict[str, str] | None = None) -> None:
        """extra_keys: plain keys accepted besides the stored ones; extra_secrets: plain
        key -> its webhook secret (default: derived_webhook_secret(key))."""
        self._db = db
        self._extra_hashes = tuple(hash_key(k) for k in extra_keys if k)
        self._extra_secrets = {
            hash_key(k): (extra_secrets or {}).get(k) or derived_webhook_secret(k)
            for k in extra_keys if k
        }

    @classmethod
    def from_settings(cls, db: Database, settings: Settings) -> KeyStore:
        """The stored keys plus settings.api_key (signing with settings.webhook_secret
        when one is given): what the API and the workers both accept."""
        key, secret = settings.api_key, settings.webhook_secret
        return cls(db, extra_keys=(key,) if key else (),
                   extra_secrets={key: secret} if key and secret else None)

    def create(self, *, name: str = "") -> CreatedKey:
        """Make a new key and its webhook secret (the only time the key exists in clear)."""
        plain = "sm_" + secrets.token_urlsafe(32)
        secret = new_webhook_secret()
        with self._db.sessions.begin() as session:
            session.add(
                ApiKeyRow(id=secrets.token_hex(6), key_hash=hash_key(plain), name=name[:100],
                          created_at=utcnow(), webhook_secret=secret)
            )
        return CreatedKey(key=plain, webhook_secret=secret)

    def all(self) -> list[ApiKeyInfo]:
        """Every stored key, revoked ones too, oldest first."""
        with self._db.sessions() as session:
            rows = session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at)).all()
            return [ApiKeyInfo(id=r.id, name=r.name, key_hash=r.key_hash,
                               created_at=r.created_at, revoked_at=r.revoked_at) for r in rows]

    def webhook_secret(self, key_hash: str) -> str | None:
        """The secret that signs callbacks of tasks owned by `key_hash` (revoked keys
        keep theirs, so callbacks of their last tasks still verify)."""
        if key_hash in self._extra_secrets:
            return self._extra_secrets[key_hash]
        with self._db.sessions() as session:
            row = session.scalars(select(ApiKeyRow).where(ApiKeyRow.key_hash == key_hash)).first()
            if row is None:
                return None
            if row.webhook_secret is None:  # a key made before secrets existed
                row.webhook_secret = new_webhook_secret()
                session.commit()
            return row.webhook_secret

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
    #: its webhook secret, when this server knows it
    webhook_secret: str | None = None


def ensure_local_key(*, settings: Settings, keys: KeyStore) -> LocalKey | None:
    """The key to print at start and to give the page on loopback.

    1. `data_dir/local-api-key` holding a still-active key: that one.
    2. no active key stored and none in settings: create one, store its hash and write
       the plain key to that file (mode 0600).
    3. settings.api_key, if set. Otherwise None (keys exist; use one you were given).
    """
    path = settings.data_dir / LOCAL_KEY_FILE
    secret_path = settings.data_dir / LOCAL_SECRET_FILE
    if path.is_file():
        plain = path.read_text(encoding="utf-8").strip()
        key_hash = keys.verify(plain) if plain else None
        if key_hash is not None:
            return LocalKey(plain=plain, source="file", webhook_secret=keys.webhook_secret(key_hash))
    if not keys.active() and not settings.api_key:
        created = keys.create(name="local")
        _write_private(path, created.key + "\n")
        _write_private(secret_path, created.webhook_secret + "\n")
        log.info("created the first API key; its plain text is in %s", path)
        return LocalKey(plain=created.key, source="created", webhook_secret=created.webhook_secret)
    if settings.api_key:
        return LocalKey(plain=settings.api_key, source="settings",
                        webhook_secret=keys.webhook_secret(hash_key(settings.api_key)))
    return None


def create_key(settings: Settings, *, name: str = "") -> CreatedKey:
    """Create a key in the database of `settings`; returns (key, whsec) to show once."""
    db = open_database(settings.resolved_database_url)
    try:
        return KeyStore(db).create(name=name)
    finally:
        db.dispose()


def list_keys(settings: Settings, *, include_revoked: bool = False) -> list[ApiKeyInfo]:
    """The keys in the database of `settings` (ids, names, dates; never the key)."""
    db = open_database(settings.resolved_database_url)
    try:
        found = KeyStore(db).all()
    finally:
        db.dispose()
    return [k for k in found if include_revoked or k.revoked_at is None]


def revoke_key(settings: Settings, key_id: str) -> bool:
    """Revoke a key by id; False when there is no such active key."""
    db = open_database(settings.resolved_database_url)
    try:
        return KeyStore(db).revoke(key_id)
    finally:
        db.dispose()


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)
