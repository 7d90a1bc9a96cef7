"""Slow hosts starve no one (issue 16): downloads run on their own bounded pool, a few per
key at once, with a minimum transfer rate and a deadline; callbacks go out side by side,
a few per host. Loopback only; each test takes a few seconds."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from reliability_support import (
    callback_receiver,
    live_server,
    reliability_settings,
    slow_host,
    wav_bytes,
)
from sideman.api import create_app
from sideman.errors import FetchError
from sideman.ingest.fetch import fetch_to_file
from sideman.ingest.pool import KeyedPool, PoolBusy
from sideman.tasks.testing import fake_generate


def auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def body(upload_url: str, **extra: object) -> dict:
    return {"model": "add-instrumental", **extra,
            "input": {"upload_url": upload_url, "title": "t", "tags": "piano", "negative_tags": "",
                      "variations": 1}}


def upload(client, key: str) -> str:  # noqa: ANN001
    response = client.post("/api/common/upload/stream", headers=auth(key),
                           files={"file": ("take.wav", wav_bytes(), "audio/wav")})
    assert response.status_code == 200, response.text
    return response.json()["data"]["file_url"]


def status_of(client, key: str, task_id: str) -> dict:  # noqa: ANN001
    return client.get(f"/api/generate/status/{task_id}", headers=auth(key)).json()["data"]


def wait_status(client, key: str, task_id: str, *, timeout_seconds: float = 15.0) -> dict:  # noqa: ANN001
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        data = status_of(client, key, task_id)
        if data["status"] in ("finished", "failed"):
            return data
        time.sleep(0.02)
    raise AssertionError(f"task {task_id} not done: {data}")


def test_slow_uploads_of_one_key_leave_other_keys_answered_at_once(tmp_path: Path) -> None:
    """45 `/upload/url` calls of key A at a host sending 1 byte/s: 2 download (and are
    given up for their rate), 43 get 429 at once, and key B's status call answers in < 1 s."""
    settings = reliability_settings(tmp_path, fetch_per_key_concurrency=2, fetch_workers=4,
                                    fetch_min_bytes_per_second=1000, fetch_rate_window_seconds=4.0,
                                    fetch_timeout_seconds=6.0)
    app = create_app(settings, generate=fake_generate)
    with slow_host(bytes_per_second=1.0) as slow, live_server(app) as base:
        services = app.state.services
        key_a = services.local_key.plain
        key_b = services.keys.create(name="b").key
        with httpx.Client(base_url=base, timeout=30) as client:
            task_b = client.post("/api/generate/submit", headers=auth(key_b),
                                 json=body(upload(client, key_b))).json()["data"]["task_id"]
        codes: list[int] = []
        messages: list[str] = []

        def post() -> None:
            response = httpx.post(f"{base}/api/common/upload/url", headers=auth(key_a),
                                  json={"file_url": f"{slow}/voice.wav"}, timeout=30)
            codes.append(response.status_code)
            messages.append(response.json()["error"]["message"])

        threads = [threading.Thread(target=post) for _ in range(45)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)  # all 45 are in: 2 downloading, the rest answered
        started = time.monotonic()
        answer = httpx.get(f"{base}/api/generate/status/{task_b}", headers=auth(key_b), timeout=30)
        elapsed = time.monotonic() - started
        for thread in threads:
            thread.join(30)
    assert answer.status_code == 200
    assert elapsed < 1.0, f"key B waited {elapsed:.2f} s"
    # 2 download at a time; on a loaded machine a slot may free up before the last call
    # arrives, so a third may download too
    assert len(codes) == 45 and set(codes) <= {422, 429}, codes
    assert 2 <= codes.count(422) <= 4 and codes.count(429) >= 41, codes
    assert sum("too slowly" in m for m in messages) == codes.count(422)
    assert sum("downloads running" in m for m in messages) == codes.count(429)


def test_slow_upload_urls_do_not_delay_another_keys_task(tmp_path: Path) -> None:
    """Two tasks of key A whose upload_url trickles do not hold the (only) pipeline
    worker: key B's task finishes while A's downloads are still running."""
    settings = reliability_settings(tmp_path, workers=1, fetch_min_bytes_per_second=1000,
                                    fetch_rate_window_seconds=3.0, fetch_timeout_seconds=5.0)
    with slow_host(bytes_per_second=2.0) as slow, \
            TestClient(create_app(settings, generate=fake_generate)) as client:
        services = client.app.state.services
        key_a = services.local_key.plain
        key_b = services.keys.create(name="b").key
        file_b = upload(client, key_b)
        slow_tasks = [client.post("/api/generate/submit", headers=auth(key_a),
                                  json=body(f"{slow}/take{i}.wav")).json()["data"]["task_id"]
                      for i in range(2)]
        time.sleep(0.3)  # both claimed, their downloads under way
        started = time.monotonic()
        task_b = client.post("/api/generate/submit", headers=auth(key_b),
                             json=body(file_b)).json()["data"]["task_id"]
        done_b = wait_status(client, key_b, task_b)
        took = time.monotonic() - started
        still = [status_of(client, key_a, t)["status"] for t in slow_tasks]
        failed_a = [wait_status(client, key_a, t) for t in slow_tasks]
    assert done_b["status"] == "finished"
    assert took < 1.5, f"key B's task took {took:.2f} s"
    assert still == ["running", "running"]
    for data in failed_a:
        assert data["status"] == "failed"
        assert "too slowly" in data["error_message"]


def test_a_hanging_callback_receiver_delays_only_itself(tmp_path: Path) -> None:
    settings = reliability_settings(tmp_path, callback_timeout_seconds=10.0,
                                    callback_per_host_concurrency=2)
    with callback_receiver(hang_seconds=3.0) as hanging, callback_receiver() as quick, \
            TestClient(create_app(settings, generate=fake_generate)) as client:
        services = client.app.state.services
        key_a = services.local_key.plain
        key_b = services.keys.create(name="b").key
        file_a, file_b = upload(client, key_a), upload(client, key_b)
        for i in range(3):
            task = client.post("/api/generate/submit", headers=auth(key_a),
                               json=body(file_a, callback_url=f"{hanging.url}/hang/{i}"))
            wait_status(client, key_a, task.json()["data"]["task_id"])
        task_b = client.post("/api/generate/submit", headers=auth(key_b),
                             json=body(file_b, callback_url=f"{quick.url}/b")).json()["data"]["task_id"]
        wait_status(client, key_b, task_b)
        finished = time.monotonic()
        deadline = finished + 5
        while len(quick.got) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        hanging_so_far = len(hanging.got)
    types = [json.loads(got[2])["data"]["callback_type"] for got in quick.got]
    assert types == ["text", "first", "complete"]
    assert quick.got[-1][1] - finished < 1.5, "key B's callbacks waited behind the slow receiver"
    assert hanging_so_far <= 2  # the hanging host had two slots, both still busy


def test_download_gives_up_a_trickle_and_keeps_a_deadline(tmp_path: Path) -> None:
    with slow_host(bytes_per_second=50.0, total_bytes=2000) as slow:
        started = time.monotonic()
        with pytest.raises(FetchError, match="too slowly"):
            fetch_to_file(f"{slow}/a.wav", dest_dir=tmp_path, max_bytes=10_000, timeout_seconds=5,
                          allow_private=True, min_bytes_per_second=1000, rate_window_seconds=1.0)
        assert time.monotonic() - started < 2.5
        started = time.monotonic()
        with pytest.raises(FetchError, match="longer than 1 s"):
            fetch_to_file(f"{slow}/a.wav", dest_dir=tmp_path, max_bytes=10_000, timeout_seconds=5,
                          deadline_seconds=1.0, allow_private=True)
        assert time.monotonic() - started < 2.0
    assert not list(tmp_path.iterdir())  # partial downloads are removed


def test_keyed_pool_limits_each_key_and_lets_others_pass() -> None:
    pool = KeyedPool(workers=3, per_key=1, name="test-pool")
    gate = threading.Event()
    order: list[str] = []
    slow = [pool.submit("a", lambda: (gate.wait(5), order.append("a"))) for _ in range(2)]
    with pytest.raises(PoolBusy):
        pool.submit("a", lambda: None, max_waiting_per_key=2)
    deadline = time.monotonic() + 5  # a loaded machine may start the first job late
    while pool.running("a") < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pool.running("a") == 1 and pool.load("a") == 2
    pool.submit("b", lambda: order.append("b")).result(timeout=2)  # not behind a's
    assert order == ["b"]
    gate.set()
    for future in slow:
        future.result(timeout=5)
    assert order == ["b", "a", "a"]
    failing = pool.submit("c", lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        failing.result(timeout=2)
    pool.shutdown()


def test_idle_pool_threads_end_and_come_back(monkeypatch: pytest.MonkeyPatch) -> None:
    from sideman.ingest import pool as pool_module

    monkeypatch.setattr(pool_module, "IDLE_EXIT_SECONDS", 0.1)
    pool = KeyedPool(workers=2, per_key=1, name="idle-pool")
    assert pool.submit("a", lambda: 1).result(timeout=2) == 1
    deadline = time.monotonic() + 3
    while pool._threads and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pool._threads
    assert pool.submit("a", lambda: 2).result(timeout=2) == 2
