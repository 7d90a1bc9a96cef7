"""Submit, status and detail (vidgo "add-instrumental" family).

What can be known at submit is refused then, never left to fail later: no room for new
work (507, see sideman.api.admission), a callback_url or upload_url that is not http(s),
has a bad port or names a private address literally (422; names are resolved and checked
again when the connection is made), and another key's uploaded file (403)."""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import unquote, urlsplit

from fastapi import APIRouter, Query, Request

from sideman.api import responses as R
from sideman.api.admission import admit
from sideman.api.deps import BaseUrlDep, Caller, CallerDep, Services, ServicesDep, SubmitterDep
from sideman.api.errors import ApiError, error_responses
from sideman.api.responses import documented
from sideman.api.schemas import SubmitBody
from sideman.errors import FetchError
from sideman.ingest.fetch import check_url_literal
from sideman.storage.space import is_disk_full
from sideman.tasks import Task
from sideman.tasks.db import UploadRow
from sideman.tasks.views import detail_data, status_data, time_text

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/generate", tags=["generate"],
                   responses=error_responses(400, 401, 403, 404, 413, 422, 429, 500, 507))

UPLOADS_PREFIX = "/files/uploads/"


@router.post("/submit", summary="Start an add-instrumental task", response_model=None,
             responses=documented(R.SubmitResponse))
def submit(body: SubmitBody, caller: SubmitterDep, services: ServicesDep, base_url: BaseUrlDep,
           request: Request) -> dict:
    task = create_task(body.input.model_dump(), callback_url=body.callback_url,
                       family="vidgo", caller=caller, services=services, base_url=base_url,
                       request=request)
    return {"code": 200, "data": {"task_id": task.id, "status": task.status,
                                  "created_time": time_text(task)}}


@router.get("/status/{task_id}", summary="A task's status and progress", response_model=None,
            responses=documented(R.StatusResponse))
def status(task_id: str, caller: CallerDep, services: ServicesDep, base_url: BaseUrlDep) -> dict:
    task = _owned_task(task_id, caller=caller, services=services)
    return {"code": 200, "data": status_data(task, base_url=base_url)}


@router.get("/detail/music", summary="A task's files, one entry per variation",
            response_model=None, responses=documented(R.DetailResponse))
def detail(task_id: Annotated[str, Query(min_length=1, max_length=64)], caller: CallerDep,
           services: ServicesDep, base_url: BaseUrlDep) -> dict:
    task = _owned_task(task_id, caller=caller, services=services)
    return {"code": 200, "data": detail_data(task, base_url=base_url)}


def create_task(fields: dict, *, callback_url: str | None, family: str, caller: Caller,
                services: Services, base_url: str, request: Request,
                param: dict | None = None) -> Task:
    """Record a task (fields: a SubmitInput dump) and hand it to the queue.

    Raises ApiError: 507 no room, 422 a bad URL, 403 another key's upload."""
    callback_param = "callBackUrl" if family == "suno" else "callback_url"
    if callback_url:
        _check_literal(callback_url, what=callback_param, services=services)
    source = _input_source(fields["upload_url"], services=services, base_url=base_url,
                           request=request, caller=caller,
                           param="uploadUrl" if family == "suno" else "input.upload_url")
    admit(services, caller)
    stored: dict = {"input": fields, "callback_url": callback_url, "source": source,
                    "base_url": base_url}
    if param is not None:
        stored["param"] = param
    try:
        task = services.tasks.create(owner_key_hash=caller.key_hash, request=stored, family=family)
    except Exception as exc:
        if is_disk_full(exc):
            raise ApiError(507, "the server is out of disk space and cannot record the task; "
                                "try again later") from exc
        raise
    services.queue.enqueue(task.id)
    log.info("task %s: submitted (%s)", task.id, family)
    return task


def owned_task(task_id: str, *, caller: Caller, services: Services) -> Task:
    """The task, if `caller` owns it; 404 unknown, 403 someone else's."""
    return _owned_task(task_id, caller=caller, services=services)


def _owned_task(task_id: str, *, caller: Caller, services: Services) -> Task:
    task = services.tasks.get(task_id) if len(task_id) <= 64 else None
    if task is None:
        raise ApiError(404, f"task {task_id[:64]!r} not found", param="task_id")
    if task.owner_key_hash != caller.key_hash:
        raise ApiError(403, "Task belongs to another user", param="task_id")
    return task


def check_callback_url(url: str, *, services: Services, what: str = "callback_url") -> None:
    """422 for a callback_url that is not http(s), has a bad port or names a private
    address literally (names are checked again when each callback connects)."""
    _check_literal(url, what=what, services=services)


def _check_literal(url: str, *, what: str, services: Services) -> None:
    try:
        check_url_literal(url, allow_private=services.settings.allow_private_urls, what=what)
    except FetchError as exc:
        raise ApiError(422, str(exc), param=what) from exc


def _input_source(upload_url: str, *, services: Services, base_url: str,
                  request: Request, caller: Caller, param: str = "input.upload_url") -> dict:
    """Where the worker gets the audio: a file we stored (when upload_url is one of our
    own /files/uploads/ URLs, or that path alone) or a URL to download."""
    parts = urlsplit(upload_url)
    ours = {urlsplit(base_url).netloc, request.url.netloc}
    if services.settings.public_base_url:
        ours.add(urlsplit(services.settings.public_base_url).netloc)
    is_local = (not parts.scheme and not parts.netloc) or (
        parts.scheme in ("http", "https") and parts.netloc in ours
    )
    if is_local and parts.path.startswith(UPLOADS_PREFIX):
        key = unquote(parts.path[len(UPLOADS_PREFIX):])
        with services.db.sessions() as session:
            row = session.get(UploadRow, key)
            owner = row.owner_key_hash if row is not None else None
        if owner is None or not services.uploads.exists(key):
            raise ApiError(422, f"{param}: no such uploaded file (uploads expire "
                                "after a while; upload it again)", param=param)
        if owner != caller.key_hash:
            raise ApiError(403, f"{param}: this uploaded file belongs to another key; "
                                "upload it with yours", param=param)
        return {"kind": "upload", "key": key}
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError(422, f"{param}: must be an http(s) URL or a file_url from "
                            "/api/common/upload/*", param=param)
    _check_literal(upload_url, what=param, services=services)
    return {"kind": "url", "url": upload_url}
