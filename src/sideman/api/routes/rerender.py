"""`POST /api/generate/rerender` (sideman ext): play a finished task again with the
singer's corrections, from the analysis it stored: nothing is downloaded, decoded or
listened to again. The new task is an ordinary task of the same family: poll it with
`/api/generate/status`, `/api/generate/detail/music` (or `record-info` for a Suno-style
task); callbacks as for a submit.

The route is registered on the vidgo family's router (`generate.router`), so create_app
mounts it with that family."""

from __future__ import annotations

import logging

from sideman.api import responses as R
from sideman.api.admission import admit
from sideman.api.deps import BaseUrlDep, ServicesDep, SubmitterDep
from sideman.api.errors import ApiError
from sideman.api.responses import documented
from sideman.api.routes.generate import check_callback_url, owned_task, router
from sideman.api.schemas import OVERRIDE_FIELDS, RerenderBody
from sideman.tasks.db import TaskStatus
from sideman.tasks.views import time_text

__all__ = ["RESULT_SOURCE", "rerender", "rerender_fields"]

log = logging.getLogger(__name__)

#: a task's `source.kind` when its input is an earlier task's stored run
RESULT_SOURCE = "result"
#: fields of the earlier task's input a re-render does not take over: the overrides are
#: in the earlier run's manifest, and the pipeline lays the new ones over them there
#: (inheriting them here would let an old tap list outvote a new bpm)
_NOT_INHERITED = ("upload_url", "bpm", "key", *OVERRIDE_FIELDS)


@router.post("/rerender", summary="Play a finished task again with corrections (sideman ext)",
             response_model=None, responses=documented(R.SubmitResponse))
def rerender(body: RerenderBody, caller: SubmitterDep, services: ServicesDep, base_url: BaseUrlDep) -> dict:
    earlier = owned_task(body.task_id, caller=caller, services=services)
    if earlier.status != TaskStatus.FINISHED:
        raise ApiError(422, f"task_id: task {earlier.id} is {earlier.status}; only a finished task can be played again",
                       param="task_id")
    manifest = earlier.manifest or {}
    if not manifest.get("stored") or not (services.settings.results_dir / earlier.id / "manifest.json").is_file():
        raise ApiError(422, f"task_id: task {earlier.id} kept no analysis to play again from (its results are "
                            "gone, or it was made before sideman kept one); submit the recording again",
                       param="task_id")
    if body.callback_url:  # a private or malformed callback_url: 422 now, not a lost callback later
        check_callback_url(body.callback_url, services=services)
    admit(services, caller)  # 507 while the disk is short of space or the key's quota is used up
    fields = rerender_fields(earlier.request.get("input", {}), body.input.model_dump(exclude_none=True),
                             seed=manifest.get("seed"))
    stored: dict = {"input": fields, "callback_url": body.callback_url or earlier.request.get("callback_url"),
                    "source": {"kind": RESULT_SOURCE, "task_id": earlier.id}, "base_url": base_url,
                    "rerender_of": earlier.id}
    if "param" in earlier.request:
        stored["param"] = earlier.request["param"]
    task = services.tasks.create(owner_key_hash=caller.key_hash, request=stored, family=earlier.family)
    services.queue.enqueue(task.id)
    log.info("task %s: re-render of %s submitted", task.id, earlier.id)
    return {"code": 200, "data": {"task_id": task.id, "status": task.status, "created_time": time_text(task),
                                  "rerender_of": earlier.id}}


def rerender_fields(earlier: dict, changes: dict, *, seed: int | None) -> dict:
    """The new task's `input`: the earlier one's (but its overrides), with `changes` laid
    over it. The seed is the one the earlier run used (the same band) unless a new one
    is given; the overrides of the earlier run are in its stored manifest, and the
    pipeline lays the ones given here over them."""
    fields = {k: v for k, v in earlier.items() if k not in _NOT_INHERITED}
    if seed is not None:
        fields["seed"] = seed
    fields.update(changes)
    return fields
