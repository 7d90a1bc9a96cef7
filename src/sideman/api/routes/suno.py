"""The Suno-style aliases: `POST /api/v1/generate/add-instrumental` and
`GET /api/v1/generate/record-info`. Same tasks, same pipeline; camelCase fields, Suno
status values (PENDING, TEXT_SUCCESS, FIRST_SUCCESS, SUCCESS, GENERATE_AUDIO_FAILED)
and the Suno callback shape (`callbackType`: text, first, complete, error)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from sideman.api import responses as R
from sideman.api.deps import BaseUrlDep, CallerDep, ServicesDep, SubmitterDep
from sideman.api.errors import error_responses
from sideman.api.responses import documented
from sideman.api.routes.generate import create_task, owned_task
from sideman.api.schemas import SunoAddInstrumentalBody
from sideman.tasks.views import SUNO_FAMILY, record_info_data

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/generate", tags=["suno-style"],
                   responses=error_responses(400, 401, 403, 404, 413, 422, 429, 500))


@router.post("/add-instrumental", summary="Start an add-instrumental task (Suno-style)",
             response_model=None, responses=documented(R.SunoSubmitResponse))
def add_instrumental(body: SunoAddInstrumentalBody, caller: SubmitterDep,
                     services: ServicesDep, base_url: BaseUrlDep, request: Request) -> dict:
    task = create_task(body.to_input(), callback_url=body.callBackUrl, family=SUNO_FAMILY,
                       caller=caller, services=services, base_url=base_url, request=request,
                       param=body.model_dump(exclude_none=True))
    return {"code": 200, "msg": "success", "data": {"taskId": task.id}}


@router.get("/record-info", summary="A task's status and tracks (Suno-style)",
            response_model=None, responses=documented(R.SunoRecordInfoResponse))
def record_info(taskId: Annotated[str, Query(min_length=1, max_length=64)],  # noqa: N803
                caller: CallerDep, services: ServicesDep, base_url: BaseUrlDep) -> dict:
    task = owned_task(taskId, caller=caller, services=services)
    return {"code": 200, "msg": "success", "data": record_info_data(task, base_url=base_url)}
