"""The module every `sideman worker` process imports (``python -m dramatiq
sideman.tasks.dramatiq_worker``): the broker built from Settings (read once, from the same
SIDEMAN_* environment as the API), the actor, and `WorkerServices`, a middleware that
opens the database, the blob stores, the callback outbox sender and the TaskRunner when
the worker process boots (in that process, after the fork), plus a sweeper thread.
"""

from __future__ import annotations

import logging
import os
import threading

from dramatiq.middleware import Middleware

from sideman.settings import Settings
from sideman.tasks.dramatiq_queue import build_broker, declare_actor, message_handler, run_sweeper

log = logging.getLogger(__name__)

__all__ = ["WorkerServices", "actor", "broker"]


class WorkerServices(Middleware):
    """Builds what the actor needs inside each worker process, when it boots."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.handle = None
        self._closers: list = []

    def after_process_boot(self, broker) -> None:  # noqa: ANN001 - dramatiq hook
        """Runs in the worker process before its threads start taking messages."""
        from sideman.api.app import load_generate
        from sideman.storage.backends import build_blob_stores, publishing
        from sideman.tasks import CallbackSender, KeyStore, TaskRunner, TaskStore, open_database
        from sideman.tasks.isolation import in_child_process
        from sideman.tasks.migrations import prepare_database

        settings = self.settings
        if settings.worker_isolation == "process":
            settings = _synthesis_shared_with_pipeline_children(settings)
        prepare_database(settings.resolved_database_url)
        db = open_database(settings.resolved_database_url)
        store = TaskStore(db)
        keys = KeyStore.from_settings(db, settings)
        callbacks = CallbackSender(
            db=db, secret_for=keys.webhook_secret,
            timeout_seconds=settings.callback_timeout_seconds,
            retry_delays_seconds=settings.callback_retry_delays_seconds,
            backoff_seconds=settings.callback_backoff_seconds,
            allow_private=settings.allow_private_urls,
            workers=settings.callback_workers,
            per_host=settings.callback_per_host_concurrency,
        )
        uploads, results = build_blob_stores(settings)
        generate = load_generate(settings.pipeline)
        if settings.worker_isolation == "process":
            generate = in_child_process(generate)
        elif settings.worker_isolation != "thread":
            raise ValueError("worker_isolation must be 'process' or 'thread', "
                             f"got {settings.worker_isolation!r}")
        generate = publishing(generate, results)
        runner = TaskRunner(store=store, settings=settings, generate=generate, uploads=uploads,
                            callbacks=callbacks)
        # upload_url downloads on a pool of this process, not on its (one) pipeline thread:
        # the message is acked at once and a new one is sent when the file is stored
        from sideman.ingest.pool import KeyedPool

        runner.attach_downloads(
            KeyedPool(workers=settings.fetch_workers, per_key=settings.fetch_per_key_concurrency,
                      name="sideman-fetch"),
            enqueue=actor.send)
        self.handle = message_handler(run_task=runner.run, store=store, settings=settings)
        callbacks.start()
        stop_sweeper = threading.Event()
        run_sweeper(store=store, db=db, settings=settings, send=actor.send, stop=stop_sweeper)
        self._closers = [stop_sweeper.set, callbacks.stop, db.dispose]
        log.info("worker process %d ready (queue %r)", os.getpid(), settings.queue_name)

    def before_worker_shutdown(self, broker, worker) -> None:  # noqa: ANN001 - dramatiq hook
        for close in self._closers:
            try:
                close()
            except Exception:
                log.exception("worker shutdown step failed")


def _handle(task_id: str) -> None:
    if services.handle is None:
        raise RuntimeError("the worker has not booted")
    services.handle(task_id)


def _configure_logging() -> None:
    logging.getLogger("sideman").setLevel(logging.INFO)


# What Dramatiq's CLI imports: the broker (Dramatiq looks for `broker`) and the actor.
_settings = Settings()
broker = build_broker(_settings)
services = WorkerServices(_settings)
broker.add_middleware(services)
actor = declare_actor(broker, _settings, handler=_handle)
_configure_logging()


def _synthesis_shared_with_pipeline_children(settings: Settings) -> Settings:
    """With a pipeline child forked per task, load the SoundFont here once: every child
    shares it by fork and synthesizes in-process, instead of starting a synthesis server
    and loading the font again per task (~0.6 s and 440 MB each). A worker process runs one
    task at a time, on about one core: many of them use the machine's cores. An operator's
    own SIDEMAN_SYNTH_PROCESSES is left as set."""
    if "synth_processes" in settings.model_fields_set:
        return settings
    from sideman.render import SoundFontNotFound, find_soundfont
    from sideman.render.synth import preload

    try:
        preload(find_soundfont(settings.soundfont_path), settings.sample_rate_hz)
    except SoundFontNotFound as error:
        log.warning("no SoundFont to preload: %s", error)  # each task reports it
        return settings
    return settings.model_copy(update={"synth_processes": 0})
