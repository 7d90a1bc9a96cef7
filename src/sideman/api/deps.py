"""FastAPI dependencies, as Annotated aliases: `ServicesDep`, `CallerDep`, `BaseUrlDep`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sideman.api.errors import ApiError
from sideman.settings import Settings
from sideman.storage import LocalBlobStore
from sideman.tasks import CallbackSender, Database, KeyStore, LocalKey, TaskQueue, TaskStore

__all__ = ["BaseUrlDep", "Caller", "CallerDep", "Services", "ServicesDep"]


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
    return Caller(key_hash=key_hash)


CallerDep = Annotated[Caller, Depends(get_caller)]


def get_base_url(request: Request, services: ServicesDep) -> str:
    """The base of the URLs we hand out: settings.public_base_url, else the URL the
    client used to reach us."""
    configured = services.settings.public_base_url
    return (configured or str(request.base_url)).rstrip("/")


BaseUrlDep = Annotated[str, Depends(get_base_url)]
