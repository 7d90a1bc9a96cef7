"""Task records, claiming and leases, the queues, restart recovery, callbacks, keys and
the guarded download."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from sideman.api import create_app
from sideman.errors import FetchError, Transient
from sideman.ingest.fetch import check_url, fetch_to_file, is_forbidden_address
from sideman.settings import Settings
from sideman.storage import LocalBlobStore
from sideman.tasks import (
    CallbackSender,
    Delivery,
    EmbeddedQueue,
    KeyStore,
    Outcome,
    StubQueue,
    TaskRunner,
    TaskStore,
    ensure_local_key,
    hash_key,
    open_database,
)
from sideman.tasks.testing import fake_generate


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict = {"data_dir": tmp_path / "data", "task_lease_seconds": 30.0}
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def store(settings: Settings):
    db = open_database(settings.resolved_database_url)
    yield TaskStore(db)
    db.dispose()


def upload_task(store: TaskStore, settings: Settings, *, owner: str = "owner") -> str:
    uploads = LocalBlobStore(settings.uploads_dir)
    uploads.write("voice.wav", [b"RIFF....WAVE"])
    task = store.create(owner_key_hash=hash_key(owner), request={
        "input": {"title": "t", "tags": "pop", "negative_tags": "", "variations": 1},
        "source": {"kind": "upload", "key": "voice.wav"},
        "base_url": "http://127.0.0.1:8000",
    })
    return task.id


def make_runner(store: TaskStore, settings: Settings, generate=fake_generate) -> TaskRunner:  # noqa: ANN001
    return TaskRunner(store=store, settings=settings, generate=generate,
                      uploads=LocalBlobStore(settings.uploads_dir))


# --- the record and its claim ------------------------------------------------------------

def test_create_and_get(store: TaskStore, settings: Settings) -> None:
    task_id = upload_task(store, settings)
    task = store.get(task_id)
    assert task is not None
    assert task.status == "not_started" and task.progress == 0 and task.attempts == 0
    assert len(task_id) == 32
    assert store.get("nope") is None


def test_claim_is_exclusive(store: TaskStore, settings: Settings) -> None:
    task_id = upload_task(store, settings)
    tokens: list[str | None] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        tokens.append(store.claim(task_id, lease_seconds=30, max_attempts=3))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(token is not None for token in tokens) == 1
    assert store.get(task_id).status == "running"


def test_expired_lease_can_be_reclaimed_and_stale_writes_are_ignored(
    store: TaskStore, settings: Settings
) -> None:
    task_id = upload_task(store, settings)
    stale = store.claim(task_id, lease_seconds=-1, max_attempts=3)
    fresh = store.claim(task_id, lease_seconds=30, max_attempts=3)
    assert stale and fresh and stale != fresh
    assert store.claim(task_id, lease_seconds=30, max_attempts=3) is None
    assert not store.finish(task_id, stale, manifest={"variations": []})
    assert store.record_stage(task_id, fresh, stage="text", progress=30, manifest={"a": 1},
                              lease_seconds=30)
    task = store.get(task_id)
    assert (task.status, task.stage, task.progress, task.manifest, task.attempts) == (
        "running", "text", 30, {"a": 1}, 2)
    assert store.finish(task_id, fresh, manifest={"variations": []})
    assert store.get(task_id).status == "finished"
    assert store.get(task_id).progress == 100


def test_recoverable_gives_up_after_max_attempts(store: TaskStore, settings: Settings) -> None:
    task_id = upload_task(store, settings)
    for _ in range(2):
        assert store.claim(task_id, lease_seconds=-1, max_attempts=2)
    assert store.recoverable(max_attempts=2) == []
    task = store.get(task_id)
    assert task.status == "failed"
    assert "interrupted 2 times" in task.error_message


# --- the runner ---------------------------------------------------------------------------

def test_runner_finishes_a_task(store: TaskStore, settings: Settings) -> None:
    task_id = upload_task(store, settings)
    assert make_runner(store, settings).run(task_id) is Outcome.FINISHED
    task = store.get(task_id)
    assert task.status == "finished"
    assert len(task.manifest["variations"]) == 1
    assert (settings.results_dir / task_id / "manifest.json").is_file()
    assert make_runner(store, settings).run(task_id) is Outcome.SKIPPED  # done is done


def test_transient_failure_is_retried(store: TaskStore, settings: Settings) -> None:
    calls = {"n": 0}

    def flaky(request, *, out_dir, settings, on_stage=None):  # noqa: ANN001
        calls["n"] += 1
        if calls["n"] == 1:
            raise Transient("busy")
        return fake_generate(request, out_dir=out_dir, settings=settings, on_stage=on_stage)

    task_id = upload_task(store, settings)
    queue = StubQueue(run_task=make_runner(store, settings, flaky).run)
    queue.enqueue(task_id)
    queue.join()
    assert calls["n"] == 2
    assert store.get(task_id).status == "finished"
    assert store.get(task_id).attempts == 2


def test_expired_upload_fails_readably(store: TaskStore, settings: Settings) -> None:
    task_id = upload_task(store, settings)
    (settings.uploads_dir / "voice.wav").unlink()
    assert make_runner(store, settings).run(task_id) is Outcome.FAILED
    assert "upload it again" in store.get(task_id).error_message


# --- queues and restart recovery -----------------------------------------------------------

def test_embedded_queue_runs_tasks_on_several_workers(store: TaskStore, settings: Settings) -> None:
    running = threading.Semaphore(0)
    seen_threads: set[str] = set()

    def generate(request, *, out_dir, settings, on_stage=None):  # noqa: ANN001
        seen_threads.add(threading.current_thread().name)
        running.release()
        time.sleep(0.1)
        return fake_generate(request, out_dir=out_dir, settings=settings, on_stage=on_stage)

    ids = [upload_task(store, settings) for _ in range(4)]
    queue = EmbeddedQueue(run_task=make_runner(store, settings, generate).run,
                          find_recoverable=lambda: [], workers=2)
    queue.start()
    try:
        for task_id in ids:
            queue.enqueue(task_id)
        assert queue.join(10)
    finally:
        queue.stop()
    assert {store.get(i).status for i in ids} == {"finished"}
    assert len(seen_threads) == 2


def test_restart_recovers_running_task_with_expired_lease(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    first_app = create_app(settings, generate=fake_generate)  # never started: a crashed process
    services = first_app.state.services
    key = services.local_key.plain
    uploads = services.uploads
    uploads.write("voice.wav", [b"RIFF....WAVE"])
    task = services.tasks.create(owner_key_hash=hash_key(key), request={
        "input": {"title": "t", "tags": "pop", "negative_tags": "", "variations": 2},
        "source": {"kind": "upload", "key": "voice.wav"}, "base_url": "http://testserver"})
    assert services.tasks.claim(task.id, lease_seconds=-1, max_attempts=3)  # died mid-run
    waiting = services.tasks.create(owner_key_hash=hash_key(key), request=task.request)
    services.db.dispose()

    second_app = create_app(settings, generate=fake_generate)
    with TestClient(second_app) as client:
        assert second_app.state.services.queue.join(10)
        for task_id in (task.id, waiting.id):
            data = client.get(f"/api/generate/status/{task_id}",
                              headers={"Authorization": f"Bearer {key}"}).json()["data"]
            assert data["status"] == "finished"
            assert len(data["files"]) == 2
    assert second_app.state.services.tasks.get(task.id).attempts == 2


# --- callbacks ----------------------------------------------------------------------------

class Clock:
    """A settable clock for the outbox (naive UTC, like the database)."""

    def __init__(self) -> None:
        from sideman.tasks.db import utcnow

        self.now = utcnow()

    def __call__(self):  # noqa: ANN204
        return self.now

    def advance(self, seconds: float) -> None:
        from datetime import timedelta

        self.now += timedelta(seconds=seconds)


def outbox_sender(settings: Settings, handler, **options: object):  # noqa: ANN001, ANN201
    db = open_database(settings.resolved_database_url)
    values: dict = {"db": db, "allow_private": True, "transport": httpx.MockTransport(handler)}
    values.update(options)
    return db, CallbackSender(**values)


def test_callback_retries_on_schedule_then_gives_up(settings: Settings) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503)

    clock = Clock()
    db, sender = outbox_sender(settings, handler, clock=clock, backoff_seconds=(60.0,))
    assert sender.send(Delivery(url="https://hooks.example.com/x", body={"code": 200, "data": {}},
                                task_id="t", callback_type="failed"))
    for _ in range(10):
        if sender.run_once() == 0:
            break
        clock.advance(0.5)
        assert sender.run_once() == 0  # the next try is not due yet
        clock.advance(60.0)
    # 1 try + retries after 1 s, 2 s, 4 s and the longer 60 s: five tries, then given up
    assert len(calls) == 5
    assert sender.pending_count() == 0
    assert len({c.headers["webhook-id"] for c in calls}) == 1  # stable across retries
    db.dispose()


def test_retry_delays_follow_the_schedule(settings: Settings) -> None:
    clock = Clock()
    db, sender = outbox_sender(settings, lambda _r: httpx.Response(500), clock=clock,
                               backoff_seconds=(30.0,))
    sender.send(Delivery(url="https://hooks.example.com/x", body={}, task_id="t",
                         callback_type="text"))
    from sideman.tasks.db import WebhookRow

    seen = []
    for _ in range(4):
        assert sender.run_once() == 1
        with db.sessions() as session:
            row = session.query(WebhookRow).one()
            seen.append(round((row.next_attempt_at - clock.now).total_seconds(), 3))
        clock.advance(seen[-1])
    assert seen == [1.0, 2.0, 4.0, 30.0]
    db.dispose()


def test_outbox_keeps_one_tasks_order_and_sends_each_type_once(settings: Settings) -> None:
    sent: list[str] = []
    state = {"fail_text_once": True}

    def handler(request: httpx.Request) -> httpx.Response:
        kind = json.loads(request.content)["kind"]
        if kind == "text" and state.pop("fail_text_once", False):
            return httpx.Response(500)
        sent.append(kind)
        return httpx.Response(204)

    clock = Clock()
    db, sender = outbox_sender(settings, handler, clock=clock)
    for kind in ("text", "first", "complete"):
        assert sender.send(Delivery(url="https://hooks.example.com/x", body={"kind": kind},
                                    task_id="t1", callback_type=kind))
    assert not sender.send(Delivery(url="https://hooks.example.com/x", body={"kind": "text"},
                                    task_id="t1", callback_type="text"))  # a second run
    assert sender.run_once() == 1  # only `text` is due: the others wait behind it
    assert sent == []
    clock.advance(1.0)
    for _ in range(3):
        sender.run_once()
    assert sent == ["text", "first", "complete"]
    db.dispose()


def test_outbox_survives_a_restart(settings: Settings) -> None:
    db, sender = outbox_sender(settings, lambda _r: httpx.Response(200))
    sender.send(Delivery(url="https://hooks.example.com/x", body={"a": 1}, task_id="t",
                         callback_type="text"))
    db.dispose()  # the process dies before the thread ran
    received: list[bytes] = []
    db, sender = outbox_sender(settings, lambda r: received.append(r.content) or httpx.Response(200))
    sender.start()
    assert sender.join(5)
    sender.stop()
    assert received == [b'{"a":1}']
    db.dispose()


def test_callback_to_private_address_is_refused(settings: Settings) -> None:
    calls: list[httpx.Request] = []
    db, sender = outbox_sender(settings, lambda r: calls.append(r) or httpx.Response(200),
                               allow_private=False)
    sender.send(Delivery(url="http://169.254.169.254/latest", body={}, task_id="t",
                         callback_type="text"))
    assert sender.run_once() == 1
    assert calls == [] and sender.pending_count() == 0
    db.dispose()


def test_signed_headers_verify_with_the_owner_secret(settings: Settings) -> None:
    from sideman.tasks.webhooks import verify_signature

    calls: list[httpx.Request] = []
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    db, sender = outbox_sender(settings, lambda r: calls.append(r) or httpx.Response(200),
                               secret_for=lambda owner: secret if owner == "o" else None)
    sender.send(Delivery(url="https://hooks.example.com/x", body={"b": 2}, task_id="t",
                         callback_type="text", owner_key_hash="o"))
    sender.run_once()
    (request,) = calls
    assert request.headers["webhook-signature"].startswith("v1,")
    assert verify_signature(secret=secret, headers=dict(request.headers), body=request.content)
    assert not verify_signature(secret=secret, headers=dict(request.headers),
                                body=request.content + b" ")
    assert not verify_signature(secret="whsec_" + "A" * 32, headers=dict(request.headers),
                                body=request.content)
    db.dispose()


# --- keys ---------------------------------------------------------------------------------

def test_first_start_creates_a_private_local_key(settings: Settings) -> None:
    db = open_database(settings.resolved_database_url)
    keys = KeyStore(db)
    local = ensure_local_key(settings=settings, keys=keys)
    assert local is not None and local.source == "created"
    path = settings.data_dir / "local-api-key"
    assert path.read_text().strip() == local.plain
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [k.key_hash for k in keys.active()] == [hash_key(local.plain)]  # only the hash
    again = ensure_local_key(settings=settings, keys=keys)
    assert again.plain == local.plain and again.source == "file"
    assert keys.verify(local.plain) == hash_key(local.plain)
    assert keys.verify(local.plain + "x") is None
    keys.revoke(keys.active()[0].id)
    assert keys.verify(local.plain) is None
    db.dispose()


def test_settings_key_is_accepted_and_no_key_is_created(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, api_key="sm_env")
    db = open_database(settings.resolved_database_url)
    keys = KeyStore(db, extra_keys=("sm_env",))
    local = ensure_local_key(settings=settings, keys=keys)
    assert local.source == "settings" and local.plain == "sm_env"
    assert keys.active() == []
    assert keys.verify("sm_env") == hash_key("sm_env")
    db.dispose()


# --- the guarded download ------------------------------------------------------------------

@pytest.mark.parametrize(
    ("address", "forbidden"),
    [("127.0.0.1", True), ("10.1.2.3", True), ("172.16.0.1", True), ("192.168.1.1", True),
     ("100.64.0.1", True), ("169.254.169.254", True), ("0.0.0.0", True), ("::1", True),
     ("fd00::1", True), ("fe80::1", True), ("::ffff:127.0.0.1", True), ("224.0.0.1", True),
     ("93.184.216.34", False), ("2606:4700::1111", False), ("not an ip", True)],
)
def test_forbidden_addresses(address: str, forbidden: bool) -> None:
    assert is_forbidden_address(address) is forbidden


def test_check_url_refuses_schemes_and_private_hosts() -> None:
    with pytest.raises(FetchError, match="http"):
        check_url("file:///etc/passwd", allow_private=False)
    with pytest.raises(FetchError, match="private or local"):
        check_url("http://localhost:8000/x.wav", allow_private=False)
    with pytest.raises(FetchError, match="private or local"):
        check_url("http://rebind.example/x.wav", allow_private=False,
                  resolver=lambda host, port: ["93.184.216.34", "10.0.0.1"])
    check_url("http://localhost:8000/x.wav", allow_private=True)


PUBLIC = lambda host, port: ["93.184.216.34"]  # noqa: E731 - a test resolver


def test_fetch_downloads_with_caps(tmp_path: Path) -> None:
    audio = b"RIFF" + b"\x00" * 4000

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/moved":
            return httpx.Response(302, headers={"location": "/vocals.wav"})
        if request.url.path == "/private":
            return httpx.Response(302, headers={"location": "http://127.0.0.1/x.wav"})
        if request.url.path == "/missing":
            return httpx.Response(404)
        return httpx.Response(200, content=audio, headers={"content-type": "audio/wav"})

    transport = httpx.MockTransport(handler)

    def fetch(path: str, **overrides: object) -> Path:
        options: dict = {"dest_dir": tmp_path / "in", "max_bytes": 10_000, "timeout_seconds": 5,
                         "transport": transport, "resolver": PUBLIC}
        options.update(overrides)
        return fetch_to_file(f"https://cdn.example.com{path}", **options)

    saved = fetch("/moved")
    assert saved.read_bytes() == audio and saved.suffix == ".wav"
    with pytest.raises(FetchError, match="byte limit|bytes are accepted"):
        fetch("/vocals.wav", max_bytes=1000)
    with pytest.raises(FetchError, match="private or local"):
        fetch("/private")
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch("/missing")
