"""TaskRunner.run(task_id): one attempt at one task, whatever queue called it.

claim -> get the input (a stored upload, or a guarded download) -> generate() into
results_dir/<task_id> (emptied first, so a second attempt starts clean) -> finished or
failed. Each StageEvent updates progress and manifest and renews the lease; a heartbeat
renews it between events. The `text` and `first` callbacks go out as their stages
arrive, `complete` and `failed` once the record says so.

A task whose input is a URL is downloaded on the download pool (`attach_downloads`),
never on the pipeline worker: the first claim hands the download to the pool and frees
the worker (Outcome.DEFERRED); the pool stores the file as a hidden upload of the task's
owner, points the task at it, releases it (refunding the attempt) and enqueues it again.
A download that fails fails the task with the reason. The lease is renewed throughout,
so a process that dies mid-download leaves a task the sweeper picks up again.

A failing attempt removes its partial results before it records the failure, so a full
disk (ENOSPC, SQLite's "database or disk is full") still ends in `failed` with a message
that says so, and the record is written again a few times if the database refuses. The
manifest recorded and written for clients names the SoundFont, never its path on the
server.

Progress only moves forward within an attempt, and the record's `stage` is the last
milestone reached (ingest, analysis, text, first, complete; a `render` event between
variations does not move it back). Idempotent on task_id: a finished or failed task
is never claimed again, a second attempt starts from an empty result folder, and the
outbox sends each callback type of a task once.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from enum import StrEnum
from pathlib import Path, PurePosixPath

from sideman.errors import FetchError, InvalidInput, Transient, Unsupported
from sideman.pipeline import GenerateRequest, StageEvent
from sideman.settings import Settings
from sideman.storage import LocalBlobStore
from sideman.storage.space import disk_full_message, is_disk_full
from sideman.tasks.callbacks import CallbackSender, Delivery
from sideman.tasks.store import Task, TaskStore
from sideman.tasks.views import MILESTONES, callback_body

log = logging.getLogger(__name__)

__all__ = ["GenerateFn", "Outcome", "TaskRunner", "free_stranded", "public_manifest"]

GenerateFn = Callable[..., dict]
FetchFn = Callable[..., Path]

GENERIC_FAILURE = "generation failed because of an internal error; please try again later"
CALLBACK_STAGES = ("text", "first")
#: a downloaded input is kept as the hidden upload FETCHED_PREFIX + task_id + suffix
#: (a leading dot: never served under /files/uploads)
FETCHED_PREFIX = ".fetched-"
#: waits between tries of recording a failure the database refused (a full disk)
FAIL_RECORD_RETRY_SECONDS = (0.5, 1.0, 2.0, 4.0)


class Outcome(StrEnum):
    FINISHED = "finished"
    FAILED = "failed"
    RETRY = "retry"  # released after a Transient error; enqueue it again
    SKIPPED = "skipped"  # not claimable (taken, done, or unknown)
    DEFERRED = "deferred"  # its download runs on the download pool, which enqueues it again


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
        self._downloads = None
        self._enqueue: Callable[[str], None] | None = None

    def attach_downloads(self, pool, *, enqueue: Callable[[str], None]) -> None:  # noqa: ANN001
        """Download URL inputs on `pool` (a sideman.ingest.pool.KeyedPool, keyed by the
        task's owner) and hand the task back through `enqueue` once its file is stored.
        Without it, the attempt downloads in the calling thread."""
        self._downloads = pool
        self._enqueue = enqueue

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
        if (task.request.get("source", {}).get("kind") == "url" and self._downloads is not None
                and self._enqueue is not None):
            return self._defer_download(task, token)
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
            request = _generate_request(task.request.get("input", {}), audio_path=audio_path,
                                        rerender=task.request.get("source", {}).get("kind") == "result")
            shutil.rmtree(out_dir, ignore_errors=True)
            out_dir.mkdir(parents=True, exist_ok=True)

            reached = {"stage": None, "progress": 0}

            def on_stage(event: StageEvent) -> None:
                if event.stage in MILESTONES:
                    rank = MILESTONES.index(event.stage)
                    if reached["stage"] is None or rank > MILESTONES.index(reached["stage"]):
                        reached["stage"] = event.stage
                reached["progress"] = max(reached["progress"], int(event.progress))
                shown = public_manifest(event.manifest)
                if shown is not event.manifest:  # the manifest.json just written has them too
                    _rewrite_manifest(out_dir)
                self._store.record_stage(
                    task.id, token, stage=reached["stage"] or event.stage,
                    progress=reached["progress"], manifest=shown,
                    lease_seconds=settings.task_lease_seconds,
                )
                if event.stage in CALLBACK_STAGES:
                    self._callback(task.id, event.stage)

            manifest = self._generate(request, out_dir=out_dir, settings=settings,
                                      on_stage=on_stage)
        except (InvalidInput, FetchError, Unsupported) as exc:
            log.info("task %s: refused: %s", task.id, exc)
            _remove_partial(out_dir, work_dir)
            return self._fail(task.id, token, str(exc) or type(exc).__name__)
        except Transient as exc:
            _remove_partial(out_dir, work_dir)
            if task.attempts < settings.task_max_attempts and self._store.release(task.id, token):
                log.warning("task %s: transient failure, will retry: %s", task.id, exc)
                return Outcome.RETRY
            log.error("task %s: transient failure, attempts used up: %s", task.id, exc)
            return self._fail(task.id, token, GENERIC_FAILURE)
        except Exception as exc:
            # free the attempt's partial files first: on a full disk they are what lets
            # the failure be recorded at all
            _remove_partial(out_dir, work_dir)
            if is_disk_full(exc):
                log.error("task %s: the disk is full: %s", task.id, exc)
                return self._fail(task.id, token, disk_full_message())
            log.exception("task %s: generation crashed", task.id)
            return self._fail(task.id, token, GENERIC_FAILURE)
        manifest = public_manifest(manifest)
        try:
            _rewrite_manifest(out_dir)
            finished = self._store.finish(task.id, token, manifest=manifest)
        except Exception as exc:
            _remove_partial(out_dir, work_dir)
            if not is_disk_full(exc):
                raise
            log.error("task %s: the disk is full at the end: %s", task.id, exc)
            return self._fail(task.id, token, disk_full_message())
        if not finished:
            return Outcome.SKIPPED
        self._callback(task.id, "complete")
        return Outcome.FINISHED

    def _fetch_url(self, url: str, *, work_dir: Path) -> Path:
        """Download `url` into work_dir with the settings' caps (size, time, rate)."""
        settings = self._settings
        return self._fetch(
            url, dest_dir=work_dir, max_bytes=settings.max_upload_bytes,
            timeout_seconds=settings.fetch_timeout_seconds,
            deadline_seconds=settings.fetch_deadline_seconds,
            min_bytes_per_second=settings.fetch_min_bytes_per_second,
            rate_window_seconds=settings.fetch_rate_window_seconds,
            allow_private=settings.allow_private_urls,
            max_redirects=settings.fetch_max_redirects,
        )

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
            return self._fetch_url(source["url"], work_dir=work_dir)
        if source.get("kind") == "result":  # a re-render (sideman ext): an earlier task's stored run
            path = settings.results_dir / str(source.get("task_id", "")) / "manifest.json"
            if not path.is_file():
                raise FetchError("the earlier task's results are gone (results expire); submit the recording again")
            return path
        raise FetchError("the task has no input audio")

    def _fail(self, task_id: str, token: str, message: str) -> Outcome:
        for wait in (*FAIL_RECORD_RETRY_SECONDS, None):
            try:
                recorded = self._store.fail(task_id, token, message=message)
                break
            except Exception as exc:
                if wait is None or not is_disk_full(exc):
                    log.exception("task %s: could not record its failure; its lease will "
                                  "run out and the sweeper takes it again", task_id)
                    return Outcome.SKIPPED
                log.warning("task %s: the database refused the failure (%s); again in %g s",
                            task_id, exc, wait)
                time.sleep(wait)
        if not recorded:
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
                try:
                    if not self._store.renew(task_id, token,
                                             lease_seconds=self._settings.task_lease_seconds):
                        return
                except Exception as exc:  # a full disk: try again at the next beat
                    log.warning("task %s: could not renew the lease: %s", task_id, exc)

        threading.Thread(target=beat, name=f"sideman-heartbeat-{task_id[:8]}", daemon=True).start()
        return stop


    # --- downloads on the pool --------------------------------------------------------

    def _defer_download(self, task: Task, token: str) -> Outcome:
        assert self._downloads is not None
        stop_heartbeat = self._start_heartbeat(task.id, token)
        try:
            self._downloads.submit(task.owner_key_hash,
                                   lambda: self._download(task, token, stop_heartbeat))
        except Exception:
            stop_heartbeat.set()
            log.exception("task %s: could not queue its download", task.id)
            self._store.release(task.id, token)
            return Outcome.RETRY
        log.info("task %s: download queued", task.id)
        return Outcome.DEFERRED

    def _download(self, task: Task, token: str, stop_heartbeat: threading.Event) -> None:
        """On a pool thread: fetch the task's URL, keep it as a hidden upload of its
        owner, point the task at it and enqueue it again (or fail it)."""
        settings = self._settings
        work_dir = settings.data_dir / "work" / f"{task.id}-download"
        url = task.request["source"]["url"]
        try:
            try:
                path = self._fetch_url(url, work_dir=work_dir)
                key = f"{FETCHED_PREFIX}{task.id}{PurePosixPath(path.name).suffix}"
                with open(path, "rb") as handle:
                    size = self._uploads.write(key, iter(lambda: handle.read(1 << 20), b""))
                _record_fetched(self._store, key=key, owner_key_hash=task.owner_key_hash,
                                size_bytes=size, settings=settings)
            except (InvalidInput, FetchError) as exc:
                log.info("task %s: download refused: %s", task.id, exc)
                self._fail(task.id, token, str(exc) or type(exc).__name__)
                return
            except Exception as exc:
                if is_disk_full(exc):
                    shutil.rmtree(work_dir, ignore_errors=True)
                    self._fail(task.id, token, "the server ran out of disk space while "
                                               "downloading upload_url; try again later")
                    return
                log.exception("task %s: download crashed", task.id)
                self._fail(task.id, token, GENERIC_FAILURE)
                return
            source = dict(task.request["source"], kind="upload", key=key, fetched_from=url)
            if self._store.set_source(task.id, token, source=source) and \
                    self._store.release(task.id, token, refund_attempt=True):
                assert self._enqueue is not None
                self._enqueue(task.id)
                log.info("task %s: downloaded (%d bytes); enqueued", task.id, size)
        finally:
            stop_heartbeat.set()
            shutil.rmtree(work_dir, ignore_errors=True)


def public_manifest(manifest: dict | None) -> dict | None:
    """`manifest` as clients may see it: no location on the server. A `path` entry that
    is absolute (the SoundFont's and its drum kits') is left out, and any other value
    that is an absolute path existing here (a re-render's source) is cut to its file
    name; fonts keep their name and license. Returns `manifest` itself when there is
    nothing to change."""
    if not manifest:
        return manifest
    cleaned = _without_server_paths(manifest)
    return manifest if cleaned == manifest else cleaned


def _without_server_paths(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_server_paths(v) for k, v in value.items()
                if not (k == "path" and isinstance(v, str) and PurePosixPath(v).is_absolute())}
    if isinstance(value, list):
        return [_without_server_paths(v) for v in value]
    if isinstance(value, str) and value.startswith("/") and len(value) < 4096 \
            and "\n" not in value and Path(value).exists():
        return PurePosixPath(value).name
    return value


def free_stranded(store: TaskStore, *, settings: Settings) -> int:
    """Remove the partial files of attempts whose worker is gone (running, lease run
    out): their next attempt starts from an empty folder anyway. Returns how many
    folders were removed. For a full disk, where the sweep cannot write its claim."""
    removed = 0
    for task_id in store.expired_running():
        for folder in (settings.results_dir / task_id, settings.data_dir / "work" / task_id):
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
    if removed:
        log.warning("freed the partial files of %d stranded attempt(s) to make room", removed)
    return removed


def _rewrite_manifest(out_dir: Path) -> None:
    """out_dir/manifest.json without server paths (see public_manifest), replaced
    atomically so that a client reading it sees the old file or the new one."""
    target = out_dir / "manifest.json"
    if not target.is_file():
        return
    try:
        written = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    cleaned = public_manifest(written)
    if cleaned is not written:  # only when a server path was there
        partial = target.with_name(f".manifest.json.{threading.get_ident()}.partial")
        partial.write_text(json.dumps(cleaned, indent=2), encoding="utf-8")
        partial.replace(target)


def _remove_partial(*folders: Path) -> None:
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def _record_fetched(store: TaskStore, *, key: str, owner_key_hash: str, size_bytes: int,
                    settings: Settings) -> None:
    """An uploads row for a downloaded input, so the retention clean-up removes it and
    it counts against its owner's quota."""
    from sideman.tasks.db import UploadRow, utcnow

    now = utcnow()
    with store.db.sessions.begin() as session:
        session.merge(UploadRow(file_name=key, owner_key_hash=owner_key_hash,
                                size_bytes=size_bytes, mime_type="audio/*", created_at=now,
                                expires_at=now + timedelta(hours=settings.upload_retention_hours)))


def _generate_request(fields: dict, *, audio_path: Path, rerender: bool = False) -> GenerateRequest:
    """The GenerateRequest for a task's stored `input` (None means the default);
    rerender: audio_path is an earlier run's manifest.json, played again from its store."""
    names = ("title", "tags", "negative_tags", "model", "vocal_gender", "style_weight",
             "weirdness_constraint", "audio_weight", "seed", "variations", "bpm", "key",
             "meter", "tap_times_seconds", "tuning_cents", "first_downbeat_seconds", "chords")
    kwargs = {name: fields[name] for name in names if fields.get(name) is not None}
    if isinstance(kwargs.get("tap_times_seconds"), list):
        kwargs["tap_times_seconds"] = tuple(kwargs["tap_times_seconds"])
    return GenerateRequest(audio_path=audio_path, from_manifest=audio_path if rerender else None, **kwargs)
