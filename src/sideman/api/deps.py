"""FastAPI dependencies, as Annotated aliases: `ServicesDep`, `CallerDep`, `BaseUrlDep`.

`CallerDep` authenticates (401) and takes a token from the key's request bucket (429
with Retry-After); `SubmitterDep` also takes one from its submit bucket."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sideman.api.errors import ApiError
from sideman.api.limits import RateLimiter
from sideman.ingest.pool import KeyedPool
from sideman.settings import Settings
from sideman.storage import LocalBlobStore
from sideman.tasks import CallbackSender, Database, KeyStore, LocalKey, TaskQueue, TaskStore

__all__ = ["BaseUrlDep", "Caller", "CallerDep", "Services", "ServicesDep", "SubmitterDep"]


@dataclass
class Services:
    """Everything a request may need; built once by create_app, kept on app.state."""

    settings: Settings
    db: Database
    tasks: TaskStore
    keys: KeyStore
    queue: TaskQueue
    callbacks: CallbackSender
    uploads: LocalBlobStore
    results: LocalBlobStore
    local_key: LocalKey | None
    limiter: RateLimiter = field(default_factory=RateLimiter)
    #: the download pool (sideman.ingest.pool.KeyedPool); None: download in the request
    downloads: KeyedPool | None = None


@dataclass(frozen=True)
class Caller:
    """Who is calling: the hash of the key they presented (the owner of their tasks)."""

    key_hash: str


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]

_bearer = HTTPBearer(auto_error=False, description="an API key: `Authorization: Bearer <key>`")


def get_caller(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    if credentials is None or not credentials.credentials.strip():
        raise ApiError(401, "missing API key: send 'Authorization: Bearer <key>'",
                       headers={"WWW-Authenticate": "Bearer"})
    key_hash = services.keys.verify(credentials.credentials.strip())
    if key_hash is None:
        raise ApiError(401, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    _limit(services, key_hash, bucket="requests",
           per_minute=services.settings.rate_limit_per_minute)
    return Caller(key_hash=key_hash)


CallerDep = Annotated[Caller, Depends(get_caller)]


def get_submitter(caller: CallerDep, services: ServicesDep) -> Caller:
    _limit(services, caller.key_hash, bucket="submit",
           per_minute=services.settings.submit_rate_limit_per_minute)
    return caller


SubmitterDep = Annotated[Caller, Depends(get_submitter)]


def _limit(services: Services, key_hash: str, *, bucket: str, per_minute: int) -> None:
    wait = services.limiter.take(key_hash, bucket=bucket, per_minute=per_minute)
    if wait > 0:
        raise ApiError(429, f"rate limit reached: at most {per_minute} "
                            f"{'submissions' if bucket == 'submit' else 'requests'} a minute "
                            "per key; retry later",
                       headers={"Retry-After": RateLimiter.retry_after(wait)})


def get_base_url(request: Request, services: ServicesDep) -> str:
    """The base of the URLs we hand out: settings.public_base_url, else the URL the
    client used to reach us."""
    configured = services.settings.public_base_url
    return (configured or str(request.base_url)).rstrip("/")


BaseUrlDep = Annotated[str, Depends(get_base_url)]
