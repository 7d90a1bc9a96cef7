"""TaskRunner.run(task_id): one attempt at one task, whatever queue called it.

claim -> get the input (a stored upload, or a guarded download) -> generate() into
results_dir/<task_id> (emptied first, so a second attempt starts clean) -> finished or
failed. Each StageEvent updates progress and manifest and renews the lease; a heartbeat
renews it between events. The `text` and `first` callbacks go out as their stages
arrive, `complete` and `failed` once the record says so.

Progress only moves forward within an attempt, and the record's `stage` is the last
milestone reached (ingest, analysis, text, first, complete; a `render` event between
variations does not move it back). Idempotent on task_id: a finished or failed task
is never claimed again, a second attempt starts from an empty result folder, and the
outbox sends each callback type of a task once.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

from sideman.errors import FetchError, InvalidInput, Transient, Unsupported
from sideman.pipeline import GenerateRequest, StageEvent
from sideman.settings import Settings
from sideman.storage import LocalBlobStore
from sideman.tasks.callbacks import CallbackSender, Delivery
from sideman.tasks.store import Task, TaskStore
from sideman.tasks.views import MILESTONES, callback_body

log = logging.getLogger(__name__)

__all__ = ["GenerateFn", "Outcome", "TaskRunner"]

GenerateFn = Callable[..., dict]
FetchFn = Callable[..., Path]

GENERIC_FAILURE = "generation failed because of an internal error; please try again later"
CALLBACK_STAGES = ("text", "first")


class Outcome(StrEnum):
    FINISHED = "finished"
    FAILED = "failed"
    RETRY = "retry"  # released after a Transient error; enqueue it again
    SKIPPED = "skipped"  # not claimable (taken, done, or unknown)


class TaskRunner:
    """Runs tasks; holds no per-task state, so any number of threads may share one."""

    def __init__(
        self,
        *,
        store: TaskStore,
        settings: Settings,
        generate: GenerateFn,
        uploads: LocalBlobStore,
        callbacks: CallbackSender | None = None,
        fetch: FetchFn | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._generate = generate
        self._uploads = uploads
        self._callbacks = callbacks
        if fetch is None:
            from sideman.ingest.fetch import fetch_to_file as fetch
        self._fetch = fetch

    def run(self, task_id: str) -> Outcome:
        settings = self._settings
        token = self._store.claim(
            task_id, lease_seconds=settings.task_lease_seconds,
            max_attempts=settings.task_max_attempts,
        )
        if token is None:
            return Outcome.SKIPPED
        task = self._store.get(task_id)
        if task is None:  # deleted between claim and read
            return Outcome.SKIPPED
        log.info("task %s: attempt %d started", task_id, task.attempts)
        work_dir = settings.data_dir / "work" / task_id
        stop_heartbeat = self._start_heartbeat(task_id, token)
        try:
            outcome = self._attempt(task, token, work_dir=work_dir)
        finally:
            stop_heartbeat.set()
            shutil.rmtree(work_dir, ignore_errors=True)
        log.info("task %s: %s", task_id, outcome)
        return outcome

    def _attempt(self, task: Task, token: str, *, work_dir: Path) -> Outcome:
        settings = self._settings
        out_dir = settings.results_dir / task.id
        try:
            audio_path = self._input_path(task, work_dir=work_dir)
            request = _generate_request(task.request.get("input", {}), audio_path=audio_path)
            shutil.rmtree(out_dir, ignore_errors=True)
            out_dir.mkdir(parents=True, exist_ok=True)

            reached = {"stage": None, "progress": 0}

            def on_stage(event: StageEvent) -> None:
                if event.stage in MILESTONES:
                    rank = MILESTONES.index(event.stage)
                    if reached["stage"] is None or rank > MILESTONES.index(reached["stage"]):
                        reached["stage"] = event.stage
                reached["progress"] = max(reached["progress"], int(event.progress))
                self._store.record_stage(
                    task.id, token, stage=reached["stage"] or event.stage,
                    progress=reached["progress"], manifest=event.manifest,
                    lease_seconds=settings.task_lease_seconds,
                )
                if event.stage in CALLBACK_STAGES:
                    self._callback(task.id, event.stage)

            manifest = self._generate(request, out_dir=out_dir, settings=settings,
                                      on_stage=on_stage)
        except (InvalidInput, FetchError, Unsupported) as exc:
            log.info("task %s: refused: %s", task.id, exc)
            return self._fail(task.id, token, str(exc) or type(exc).__name__)
        except Transient as exc:
            if task.attempts < settings.task_max_attempts and self._store.release(task.id, token):
                log.warning("task %s: transient failure, will retry: %s", task.id, exc)
                return Outcome.RETRY
            log.error("task %s: transient failure, attempts used up: %s", task.id, exc)
            return self._fail(task.id, token, GENERIC_FAILURE)
        except Exception:
            log.exception("task %s: generation crashed", task.id)
            return self._fail(task.id, token, GENERIC_FAILURE)
        if not self._store.finish(task.id, token, manifest=manifest):
            return Outcome.SKIPPED
        self._callback(task.id, "complete")
        return Outcome.FINISHED

    def _input_path(self, task: Task, *, work_dir: Path) -> Path:
        source = task.request.get("source", {})
        settings = self._settings
        if source.get("kind") == "upload":
            try:
                path = self._uploads.path(source.get("key", ""))
            except KeyError:
                path = None
            if path is None or not path.is_file():
                raise FetchError("the uploaded file is gone (uploads expire); upload it again")
            return path
        if source.get("kind") == "url":
            return self._fetch(
                source["url"], dest_dir=work_dir, max_bytes=settings.max_upload_bytes,
                timeout_seconds=settings.fetch_timeout_seconds,
                allow_private=settings.allow_private_urls,
                max_redirects=settings.fetch_max_redirects,
            )
        raise FetchError("the task has no input audio")

    def _fail(self, task_id: str, token: str, message: str) -> Outcome:
        if not self._store.fail(task_id, token, message=message):
            return Outcome.SKIPPED
        self._callback(task_id, "failed")
        return Outcome.FAILED

    def _callback(self, task_id: str, callback_type: str) -> None:
        if self._callbacks is None:
            return
        task = self._store.get(task_id)
        if task is None or not task.request.get("callback_url"):
            return
        body = callback_body(task, callback_type, results_dir=self._settings.results_dir)
        try:
            self._callbacks.send(
                Delivery(url=task.request["callback_url"], body=body, task_id=task_id,
                         callback_type=callback_type, owner_key_hash=task.owner_key_hash)
            )
        except Exception:  # a callback must never fail the task
            log.exception("task %s: could not queue callback %s", task_id, callback_type)

    def _start_heartbeat(self, task_id: str, token: str) -> threading.Event:
        stop = threading.Event()
        interval = self._settings.task_lease_seconds / 3

        def beat() -> None:
            while not stop.wait(interval):
                if not self._store.renew(task_id, token,
                                         lease_seconds=self._settings.task_lease_seconds):
                    return

        threading.Thread(target=beat, name=f"sideman-heartbeat-{task_id[:8]}", daemon=True).start()
        return stop


def _generate_request(fields: dict, *, audio_path: Path) -> GenerateRequest:
    """The GenerateRequest for a task's stored `input` (None means the default)."""
    names = ("title", "tags", "negative_tags", "model", "vocal_gender", "style_weight",
             "weirdness_constraint", "audio_weight", "seed", "variations", "bpm", "key")
    kwargs = {name: fields[name] for name in names if fields.get(name) is not None}
    return GenerateRequest(audio_path=audio_path, **kwargs)
