"""For operators: `/healthz` (the process answers), `/readyz` (the database answers, the
data folder is writable and its disk has at least settings.min_free_disk_bytes free, and
in the scale-out mode Redis answers; 503 otherwise, with what is wrong) and
`/metrics` (Prometheus text; the broker's queue sizes too in the scale-out mode)."""

from __future__ import annotations

import logging
import os

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from sqlalchemy import text

from sideman.api.deps import ServicesDep
from sideman.api.errors import ApiError, error_responses
from sideman.errors import InsufficientStorage
from sideman.storage.space import check_free_space
from sideman.tasks.metrics import CONTENT_TYPE, render_metrics
from sideman.tasks.scaleout import broker_metrics, broker_status

log = logging.getLogger(__name__)

__all__ = ["router"]

router = APIRouter(tags=["operations"], responses=error_responses(503))


@router.get("/healthz", summary="Liveness")
def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: the database answers, the data folder is writable "
            "and has room")
def readyz(services: ServicesDep) -> dict:
    try:
        with services.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        log.warning("readyz: database check failed: %s", exc)
        raise ApiError(503, "the database is not reachable") from exc
    if not os.access(services.settings.data_dir, os.W_OK):
        raise ApiError(503, "the data folder is not writable")
    try:
        check_free_space(services.settings.data_dir,
                         min_free_bytes=services.settings.min_free_disk_bytes)
    except InsufficientStorage as exc:
        raise ApiError(503, str(exc)) from exc
    broker = broker_status(services.queue)  # None in the embedded mode
    if broker is None:
        return {"status": "ok", "database": "ok"}
    if broker != "ok":
        raise ApiError(503, "the task broker (Redis) is not reachable")
    return {"status": "ok", "database": "ok", "broker": broker}


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
def metrics(services: ServicesDep) -> PlainTextResponse:
    try:
        body = render_metrics(services.db) + broker_metrics(services.queue)
    except Exception as exc:
        log.warning("metrics: database read failed: %s", exc)
        raise ApiError(503, "the database is not reachable") from exc
    return PlainTextResponse(body, media_type=CONTENT_TYPE)
