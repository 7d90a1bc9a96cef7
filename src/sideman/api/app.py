"""create_app(settings): the FastAPI application, with its task store, queue, callback
outbox and retention janitor, started and stopped with the app's lifespan.

OpenAPI: `/openapi.json`, interactive docs at `/docs`."""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from sideman.api import routes
from sideman.api.deps import Services
from sideman.api.errors import install_error_handlers
from sideman.api.limits import BodySizeLimit
from sideman.ingest.pool import KeyedPool
from sideman.settings import Settings
from sideman.storage.backends import build_blob_stores, publishing
from sideman.tasks import (
    CallbackSender,
    Janitor,
    KeyStore,
    TaskRunner,
    TaskStore,
    ensure_local_key,
    open_database,
)
from sideman.tasks.migrations import prepare_database
from sideman.tasks.queue import EmbeddedQueue
from sideman.tasks.runner import GenerateFn
from sideman.tasks.scaleout import build_queue

log = logging.getLogger(__name__)

__all__ = ["create_app"]

WEB_DIR = Path(__file__).resolve().parent.parent / "web"


def create_app(
    settings: Settings,
    *,
    generate: GenerateFn | None = None,
    http_transport: httpx.BaseTransport | None = None,
) -> FastAPI:
    """Build the app. Nothing runs until its lifespan starts (uvicorn, or `with
    TestClient(app)`): then the workers start and pick up tasks left from before.

    generate: the pipeline entry point (default: settings.pipeline, normally
    sideman.pipeline.generate); tests pass a fast fake. http_transport: used for
    callbacks (tests pass an httpx.MockTransport).
    """
    if generate is None:
        generate = load_generate(settings.pipeline)
    for folder in (settings.data_dir, settings.uploads_dir, settings.results_dir):
        folder.mkdir(parents=True, exist_ok=True)

    prepare_database(settings.resolved_database_url)  # Alembic for PostgreSQL; SQLite: no-op
    db = open_database(settings.resolved_database_url)
    tasks = TaskStore(db)
    keys = KeyStore.from_settings(db, settings)
    uploads_store, results_store = build_blob_stores(settings)  # local, shared or s3
    callbacks = CallbackSender(
        db=db,
        secret_for=keys.webhook_secret,
        timeout_seconds=settings.callback_timeout_seconds,
        retry_delays_seconds=settings.callback_retry_delays_seconds,
        backoff_seconds=settings.callback_backoff_seconds,
        allow_private=settings.allow_private_urls,
        transport=http_transport,
        workers=settings.callback_workers,
        per_host=settings.callback_per_host_concurrency,
    )
    # downloads (upload_url, /upload/url) run here: never on a request thread nor on a
    # pipeline worker, at most fetch_per_key_concurrency at once per key
    downloads = KeyedPool(workers=settings.fetch_workers,
                          per_key=settings.fetch_per_key_concurrency, name="sideman-fetch")
    janitor = Janitor(db=db, settings=settings, results=results_store, uploads=uploads_store)
    runner = TaskRunner(store=tasks, settings=settings,
                        generate=publishing(generate, results_store),
                        uploads=uploads_store, callbacks=callbacks)
    # threads in this process, or Dramatiq messages to `sideman worker` when redis_url is set
    queue = build_queue(settings, run_task=runner.run, tasks=tasks, db=db)
    if isinstance(queue, EmbeddedQueue):  # Dramatiq workers download in their own process
        runner.attach_downloads(downloads, enqueue=queue.enqueue)
    services = Services(
        settings=settings, db=db, tasks=tasks, keys=keys, queue=queue, callbacks=callbacks,
        uploads=uploads_store, results=results_store,
        local_key=ensure_local_key(settings=settings, keys=keys),
        downloads=downloads,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        callbacks.start()
        queue.start()
        janitor.start()
        try:
            yield
        finally:
            janitor.stop()
            queue.stop()
            callbacks.stop()
            db.dispose()

    app = FastAPI(
        title="sideman",
        summary="Add instrumental: a vocal recording in, backing tracks out",
        version="0.1.0",
        description="vidgo- and Suno-compatible add-instrumental API. Every `/api/...` call "
        "needs `Authorization: Bearer <key>`. Errors: `{code, msg, error: {message, type, "
        "param}}` with the HTTP status equal to `code`.",
        lifespan=lifespan,
    )
    app.state.services = services
    install_error_handlers(app)
    app.include_router(routes.generate.router)
    app.include_router(routes.suno.router)
    app.include_router(routes.uploads.router)
    app.include_router(routes.files.router)
    app.include_router(routes.ops.router)
    app.include_router(routes.web.router)
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    app.add_middleware(BodySizeLimit, cap_for=partial(body_cap, settings=settings))
    return app


def body_cap(path: str, *, settings: Settings) -> int:
    """The largest request body a path takes: an upload's limit (plus room for the
    multipart envelope, or base64's 4/3) on the upload routes, the JSON cap elsewhere."""
    envelope = 64 * 1024
    if path == "/api/common/upload/stream":
        return settings.max_upload_bytes + envelope
    if path == "/api/common/upload/base64":
        return settings.max_upload_bytes * 4 // 3 + envelope
    return settings.max_json_body_bytes


def load_generate(spec: str) -> GenerateFn:
    """Import `module:function` (settings.pipeline). Raises ValueError at startup for a
    spec that does not name a callable."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"settings.pipeline must look like 'module:function', got {spec!r}")
    function = getattr(importlib.import_module(module_name), attribute, None)
    if not callable(function):
        raise ValueError(f"settings.pipeline {spec!r} does not name a function")
    return function
