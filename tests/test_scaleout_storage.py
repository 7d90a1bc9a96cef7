"""Shared storage: what a worker writes, any API instance serves. The S3 store runs
against moto in server mode on loopback (a real HTTP S3 endpoint, no network); the
shared-folder store against a temporary folder."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from scaleout_support import CI
from sideman.settings import Settings


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        if CI:
            pytest.fail(f"CI=true and moto[server] is not installed: {exc}")
        pytest.skip(f"moto[server] is not installed ({exc}): pip install -e '.[test,scale]'")
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def _settings(endpoint: str, data_dir: Path, bucket: str, **extra) -> Settings:
    return Settings(data_dir=data_dir, storage_backend="s3", s3_bucket=bucket,
                    s3_endpoint_url=endpoint, s3_access_key_id="test", s3_secret_access_key="test",
                    s3_prefix="sideman/", **extra)


def _bucket(endpoint: str, name: str) -> str:
    from sideman.storage.s3 import s3_client

    s3_client(endpoint_url=endpoint, region="us-east-1", access_key_id="test",
              secret_access_key="test").create_bucket(Bucket=name)
    return name


def test_s3_store_round_trip(s3_endpoint: str, tmp_path: Path) -> None:
    from sideman.storage import TooLarge
    from sideman.storage.backends import build_blob_stores

    bucket = _bucket(s3_endpoint, "round-trip")
    uploads_a, _ = build_blob_stores(_settings(s3_endpoint, tmp_path / "a", bucket))
    uploads_b, _ = build_blob_stores(_settings(s3_endpoint, tmp_path / "b", bucket))
    assert uploads_a.write("take.wav", [b"RIFF", b"1234"]) == 8
    assert uploads_b.exists("take.wav")  # another machine sees it in the bucket
    assert uploads_b.path("take.wav").read_bytes() == b"RIFF1234"  # and gets a real file
    assert uploads_b.read_bytes("take.wav") == b"RIFF1234"
    with pytest.raises(TooLarge):
        uploads_a.write("big.wav", [b"x" * 10], max_bytes=5)
    assert not uploads_b.exists("big.wav")
    with pytest.raises(KeyError):
        uploads_a.path("../escape")
    assert not uploads_b.path("missing.wav").exists()
    uploads_a.delete("take.wav")
    assert not uploads_b.exists("take.wav")


def test_worker_results_in_s3_are_served_by_another_api_instance(
        s3_endpoint: str, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from sideman.api.app import create_app
    from sideman.storage.backends import build_blob_stores, publishing
    from sideman.tasks import TaskRunner, TaskStore, open_database
    from sideman.tasks.testing import fake_generate

    bucket = _bucket(s3_endpoint, "results")
    database_url = f"sqlite:///{tmp_path / 'shared.db'}"
    api_settings = _settings(s3_endpoint, tmp_path / "api", bucket, database_url=database_url,
                             api_key="sk-s3-test")
    worker_settings = _settings(s3_endpoint, tmp_path / "worker", bucket,
                                database_url=database_url)

    # the API instance stores the upload; a worker on another machine runs the task
    api_uploads, _ = build_blob_stores(api_settings)
    api_uploads.write("take.wav", [b"RIFF-fake"])
    db = open_database(database_url)
    store = TaskStore(db)
    task = store.create(owner_key_hash="owner", request={
        "input": {"title": "s3", "tags": "piano", "negative_tags": "", "variations": 1},
        "source": {"kind": "upload", "key": "take.wav"}})
    uploads, results = build_blob_stores(worker_settings)
    runner = TaskRunner(store=store, settings=worker_settings,
                        generate=publishing(fake_generate, results), uploads=uploads)
    assert runner.run(task.id).value == "finished"
    db.dispose()

    assert not (tmp_path / "api" / "results" / task.id).exists()
    with TestClient(create_app(api_settings)) as client:
        song = client.get(f"/files/results/{task.id}/v1/song.mp3")
        assert song.status_code == 200 and song.content.startswith(b"ID3")
        assert song.headers["content-type"] == "audio/mpeg"
        ranged = client.get(f"/files/results/{task.id}/v1/song.mp3",
                            headers={"Range": "bytes=0-3"})
        assert ranged.status_code == 206 and ranged.content == b"ID3\x04"
        assert client.get(f"/files/results/{task.id}/v9/none.mp3").status_code == 404


def test_shared_folder_store_concurrent_writers(tmp_path: Path) -> None:
    from sideman.storage.shared import SharedDirBlobStore

    machine_a = SharedDirBlobStore(tmp_path / "shared")
    machine_b = SharedDirBlobStore(tmp_path / "shared")
    payloads = {name: bytes([n]) * 200_000 for n, name in enumerate("abcdefgh")}

    def write(store: SharedDirBlobStore, name: str) -> None:
        store.write("same/key.bin", [payloads[name][:100_000], payloads[name][100_000:]])

    threads = [threading.Thread(target=write, args=(machine_a if i % 2 else machine_b, name))
               for i, name in enumerate(payloads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    content = machine_b.path("same/key.bin").read_bytes()
    assert content in payloads.values()  # one writer's bytes, whole, never a mix
    leftovers = [p.name for p in (tmp_path / "shared" / "same").iterdir()]
    assert leftovers == ["key.bin"]


def test_unknown_storage_backend_is_refused_at_startup(tmp_path: Path) -> None:
    from sideman.storage.backends import build_blob_stores

    with pytest.raises(ValueError, match="storage_backend"):
        build_blob_stores(Settings(data_dir=tmp_path, storage_backend="ftp"))
    with pytest.raises(ValueError, match="s3_bucket"):
        build_blob_stores(Settings(data_dir=tmp_path, storage_backend="s3"))
