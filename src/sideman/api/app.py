"""create_app(settings): the FastAPI application, with its task store, queue and
callback sender, started and stopped with the app's lifespan."""

from __future__ import annotations

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
from sideman.settings import Settings
from sideman.storage import LocalBlobStore
from sideman.tasks import (
    CallbackSender,
    EmbeddedQueue,
    KeyStore,
    TaskRunner,
    TaskStore,
    ensure_local_key,
    open_database,
)
from sideman.tasks.runner import GenerateFn

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

    generate: the pipeline entry point (default: sideman.pipeline.generate); tests pass
    a fast fake. http_transport: used for callbacks (tests pass an httpx.MockTransport).
    """
    if generate is None:
        from sideman.pipeline import generate
    for folder in (settings.data_dir, settings.uploads_dir, settings.results_dir):
        folder.mkdir(parents=True, exist_ok=True)

    db = open_database(settings.resolved_database_url)
    tasks = TaskStore(db)
    keys = KeyStore(db, extra_keys=(settings.api_key,) if settings.api_key else ())
    uploads_store = LocalBlobStore(settings.uploads_dir)
    results_store = LocalBlobStore(settings.results_dir)
    callbacks = CallbackSender(
        timeout_seconds=settings.callback_timeout_seconds,
        retry_delays_seconds=settings.callback_retry_delays_seconds,
        allow_private=settings.allow_private_urls,
        transport=http_transport,
    )
    runner = TaskRunner(store=tasks, settings=settings, generate=generate,
                        uploads=uploads_store, callbacks=callbacks)
    queue = EmbeddedQueue(
        run_task=runner.run,
        find_recoverable=partial(tasks.recoverable, max_attempts=settings.task_max_attempts),
        workers=settings.workers,
        sweep_interval_seconds=max(1.0, settings.task_lease_seconds / 2),
    )
    services = Services(
        settings=settings, db=db, tasks=tasks, keys=keys, queue=queue, callbacks=callbacks,
        uploads=uploads_store, results=results_store,
        local_key=ensure_local_key(settings=settings, keys=keys),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        callbacks.start()
        queue.start()
        try:
            yield
        finally:
            queue.stop()
            callbacks.stop()
            db.dispose()

    app = FastAPI(
        title="sideman",
        summary="Add instrumental: a vocal recording in, backing tracks out",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.services = services
    install_error_handlers(app)
    app.include_router(routes.generate.router)
    app.include_router(routes.uploads.router)
    app.include_router(routes.files.router)
    app.include_router(routes.web.router)
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    return app
