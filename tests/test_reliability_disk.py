"""A full disk strands no task and misleads no one (issue 16): new work is refused with
507 under the free-space threshold or past a key's quota, /readyz says not ready, a
task that fills the disk frees its partial files and ends `failed` with a message that
says so (even when the database refuses the first tries), and a task whose worker
vanished is taken again once its lease runs out, even after sweeps that failed.
Loopback only; the disk is filled by simulation (ENOSPC, SQLite's "database or disk is
full"), not for real."""

from __future__ import annotations

import errno
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from reliability_support import reliability_settings, wav_bytes
from sideman.api import create_app
from sideman.storage.space import check_free_space, is_disk_full
from sideman.tasks import runner as runner_module
from sideman.tasks.testing import fake_generate

DB_FULL = OperationalError("UPDATE tasks ...", {}, Exception("database or disk is full"))


def auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def upload(client: TestClient, key: str, data: bytes | None = None):  # noqa: ANN201
    return client.post("/api/common/upload/stream", headers=auth(key),
                       files={"file": ("take.wav", data or wav_bytes(), "audio/wav")})


def submit(client: TestClient, key: str, file_url: str, **top: object):  # noqa: ANN201
    return client.post("/api/generate/submit", headers=auth(key), json={
        "model": "add-instrumental", **top,
        "input": {"upload_url": file_url, "title": "t", "tags": "piano", "negative_tags": "",
                  "variations": 1}})


def wait_done(client: TestClient, key: str, task_id: str, timeout_seconds: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        data = client.get(f"/api/generate/status/{task_id}", headers=auth(key)).json()["data"]
        if data["status"] in ("finished", "failed"):
            return data
        time.sleep(0.02)
    raise AssertionError(f"task {task_id} still {data['status']} after {timeout_seconds} s")


def test_short_of_space_refuses_new_work_with_507_and_is_not_ready(tmp_path: Path) -> None:
    settings = reliability_settings(tmp_path)
    with TestClient(create_app(settings, generate=fake_generate)) as client:
        key = client.app.state.services.local_key.plain
        stored = upload(client, key).json()["data"]
        task_id = submit(client, key, stored["file_url"]).json()["data"]["task_id"]
        assert wait_done(client, key, task_id)["status"] == "finished"
        assert client.get("/readyz").status_code == 200

        settings.min_free_disk_bytes = 10**18  # more than any disk has free
        for response in (upload(client, key), submit(client, key, stored["file_url"]),
                         client.post("/api/common/upload/base64", headers=auth(key),
                                     json={"base64_data": "UklGRg=="}),
                         client.post("/api/common/upload/url", headers=auth(key),
                                     json={"file_url": "http://127.0.0.1:9/a.wav"})):
            assert response.status_code == 507, response.text
            assert "short of disk space" in response.json()["error"]["message"]
            assert response.json()["error"]["type"] == "insufficient_storage_error"
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "short of disk space" in ready.json()["error"]["message"]
        # what exists stays reachable
        assert client.get(f"/api/generate/status/{task_id}", headers=auth(key)).status_code == 200
        assert client.get(f"/files/results/{task_id}/v1/song.mp3").status_code == 200


def test_a_keys_quota_refuses_its_uploads_only(tmp_path: Path) -> None:
    one_file = len(wav_bytes())
    settings = reliability_settings(tmp_path, key_storage_quota_bytes=2 * one_file - 10)
    with TestClient(create_app(settings, generate=fake_generate)) as client:
        key_a = client.app.state.services.local_key.plain
        key_b = client.app.state.services.keys.create(name="b").key
        assert upload(client, key_a).status_code == 200
        assert upload(client, key_a).status_code == 200
        refused = upload(client, key_a)
        assert refused.status_code == 507 and "quota is used up" in refused.json()["error"]["message"]
        assert upload(client, key_b).status_code == 200


def test_a_task_that_fills_the_disk_frees_its_files_and_fails_saying_so(tmp_path: Path) -> None:
    def filling(request, *, out_dir, settings, on_stage=None):  # noqa: ANN001
        (out_dir / "v1").mkdir(parents=True, exist_ok=True)
        (out_dir / "v1" / "drums.wav").write_bytes(bytes(2_000_000))  # the attempt's partial files
        raise OSError(errno.ENOSPC, "No space left on device")

    settings = reliability_settings(tmp_path)
    with TestClient(create_app(settings, generate=filling)) as client:
        key = client.app.state.services.local_key.plain
        stored = upload(client, key).json()["data"]
        task_id = submit(client, key, stored["file_url"]).json()["data"]["task_id"]
        data = wait_done(client, key, task_id)
    assert data["status"] == "failed"
    assert "ran out of disk space" in data["error_message"]
    assert not (settings.results_dir / task_id).exists()


def test_the_failure_is_recorded_even_when_the_database_refuses_at_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def filling(request, *, out_dir, settings, on_stage=None):  # noqa: ANN001
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runner_module, "FAIL_RECORD_RETRY_SECONDS", (0.05, 0.05, 0.05))
    settings = reliability_settings(tmp_path)
    with TestClient(create_app(settings, generate=filling)) as client:
        store = client.app.state.services.tasks
        real_fail, refusals = store.fail, []

        def fail_when_room(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            if len(refusals) < 2:
                refusals.append(1)
                raise DB_FULL
            return real_fail(*args, **kwargs)

        monkeypatch.setattr(store, "fail", fail_when_room)
        key = client.app.state.services.local_key.plain
        stored = upload(client, key).json()["data"]
        task_id = submit(client, key, stored["file_url"]).json()["data"]["task_id"]
        data = wait_done(client, key, task_id)
    assert len(refusals) == 2
    assert data["status"] == "failed" and "disk space" in data["error_message"]


def test_a_task_whose_worker_vanished_is_taken_again_after_failed_sweeps(tmp_path: Path) -> None:
    settings = reliability_settings(tmp_path, task_lease_seconds=1.0)
    with TestClient(create_app(settings, generate=fake_generate)) as client:
        services = client.app.state.services
        key = services.local_key.plain
        stored = upload(client, key).json()["data"]
        task = services.tasks.create(owner_key_hash=services.keys.verify(key), request={
            "input": {"title": "t", "tags": "piano", "negative_tags": "", "variations": 1},
            "source": {"kind": "upload", "key": stored["file_name"]}})
        # a worker claims it and dies (no heartbeat, no result): the lease runs out
        assert services.tasks.claim(task.id, lease_seconds=0.5, max_attempts=3)
        queue = services.queue
        real_find, refusals = queue._find_recoverable, []

        def full_then_fine() -> list[str]:
            if len(refusals) < 2:  # the database was full for the first two sweeps
                refusals.append(1)
                raise DB_FULL
            return real_find()

        queue._find_recoverable = full_then_fine
        data = wait_done(client, key, task.id, timeout_seconds=10.0)
    assert len(refusals) == 2
    assert data["status"] == "finished"


def test_disk_full_on_upload_or_submit_answers_507_and_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = reliability_settings(tmp_path)
    with TestClient(create_app(settings, generate=fake_generate)) as client:
        services = client.app.state.services
        key = services.local_key.plain
        stored = upload(client, key).json()["data"]
        real_write = services.uploads.write

        def write_then_full(name, chunks, *, max_bytes=None):  # noqa: ANN001, ANN202
            real_write(name, chunks, max_bytes=max_bytes)
            services.uploads.delete(name)  # a real ENOSPC leaves no file: LocalBlobStore removes it
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(services.uploads, "write", write_then_full)
        refused = upload(client, key)
        assert refused.status_code == 507 and "ran out of disk space" in refused.json()["error"]["message"]
        monkeypatch.setattr(services.tasks, "create", lambda **_kw: (_ for _ in ()).throw(DB_FULL))
        refused = submit(client, key, stored["file_url"])
        assert refused.status_code == 507 and "out of disk space" in refused.json()["error"]["message"]
    assert sorted(p.name for p in settings.uploads_dir.iterdir()) == [stored["file_name"]]


def test_disk_full_is_recognised_in_its_forms(tmp_path: Path) -> None:
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert is_disk_full(DB_FULL)
    try:
        try:
            raise OSError(errno.ENOSPC, "x")
        except OSError as inner:
            raise RuntimeError("stem write failed") from inner
    except RuntimeError as outer:
        assert is_disk_full(outer)
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    check_free_space(tmp_path, min_free_bytes=0)
    with pytest.raises(Exception, match="short of disk space"):
        check_free_space(tmp_path, min_free_bytes=10**18)


def test_a_sweep_on_a_full_disk_frees_stranded_attempts_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sideman.tasks import TaskStore, open_database
    from sideman.tasks.scaleout import _recoverable

    settings = reliability_settings(tmp_path)
    db = open_database(settings.resolved_database_url)
    store = TaskStore(db)
    stranded = store.create(owner_key_hash="k", request={"input": {}, "source": {}})
    live = store.create(owner_key_hash="k", request={"input": {}, "source": {}})
    assert store.claim(stranded.id, lease_seconds=0.01, max_attempts=3)
    assert store.claim(live.id, lease_seconds=60, max_attempts=3)
    for task in (stranded, live):
        (settings.results_dir / task.id / "v1").mkdir(parents=True)
        (settings.results_dir / task.id / "v1" / "drums.wav").write_bytes(bytes(1000))
    time.sleep(0.05)
    real, calls = store.recoverable, []

    def full_until_freed(**kwargs):  # noqa: ANN003, ANN202
        calls.append(1)
        if (settings.results_dir / stranded.id).exists():
            raise DB_FULL
        return real(**kwargs)

    monkeypatch.setattr(store, "recoverable", full_until_freed)
    assert _recoverable(tasks=store, settings=settings) == [stranded.id]
    assert len(calls) == 2
    assert not (settings.results_dir / stranded.id).exists()
    assert (settings.results_dir / live.id / "v1" / "drums.wav").exists()  # a live attempt's files stay
    db.dispose()
