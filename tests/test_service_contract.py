"""The HTTP contract (shared API.md), endpoint by endpoint and error code by error code,
against create_app with a fast fake pipeline: the Suno-style aliases, progress,
limits (413, 415, 429), 500 without internals, operations (/readyz, /metrics, /docs)
and retention."""

from __future__ import annotations

import io
import json
import os
import queue
import threading
import time
import wave
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sideman.api import create_app
from sideman.pipeline import StageEvent
from sideman.settings import Settings
from sideman.tasks import clean_up
from sideman.tasks.db import TaskRow, UploadRow, WebhookRow, utcnow
from sideman.tasks.testing import fake_generate

POLL_SECONDS = 20.0


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict = {"data_dir": tmp_path / "data", "task_lease_seconds": 30.0,
                    "callback_retry_delays_seconds": (0.01, 0.01, 0.01),
                    "callback_backoff_seconds": ()}
    values.update(overrides)
    return Settings(_env_file=None, **values)


def wav_bytes(*, seconds: float = 0.5, sample_rate_hz: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(sample_rate_hz)
        handle.writeframes(b"\x00\x10" * int(seconds * sample_rate_hz))
    return buffer.getvalue()


def auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def key_of(client: TestClient) -> str:
    return client.app.state.services.local_key.plain


def upload(client: TestClient, key: str) -> str:
    response = client.post("/api/common/upload/stream", headers=auth(key),
                           files={"file": ("take.wav", wav_bytes(), "audio/wav")})
    assert response.status_code == 200, response.text
    return response.json()["data"]["file_url"]


def suno_body(file_url: str, **fields: object) -> dict:
    body = {"uploadUrl": file_url, "title": "Night Drive", "tags": "synthwave, piano",
            "negativeTags": "metal", "styleWeight": 0.5, "model": "V5", "variations": 2}
    body.update(fields)
    return body


def vidgo_body(file_url: str, **fields: object) -> dict:
    values = {"upload_url": file_url, "title": "Relaxing Piano", "tags": "relaxing, piano",
              "negative_tags": ""}
    values.update(fields)
    return {"model": "add-instrumental", "input": values}


def assert_error(response, status: int, *, param: str | None = None) -> dict:  # noqa: ANN001
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == status
    assert body["msg"] == body["error"]["message"]
    assert body["error"]["type"]
    if param is not None:
        assert body["error"]["param"] == param
    return body


def wait_record(client: TestClient, key: str, task_id: str, *, until: set[str]) -> dict:
    deadline = time.monotonic() + POLL_SECONDS
    while time.monotonic() < deadline:
        data = client.get("/api/v1/generate/record-info", params={"taskId": task_id},
                          headers=auth(key)).json()["data"]
        if data["status"] in until:
            return data
        time.sleep(0.03)
    raise AssertionError(f"no status in {until}: {data}")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def client(settings: Settings):
    with TestClient(create_app(settings, generate=fake_generate)) as test_client:
        yield test_client


# --- the Suno-style aliases -----------------------------------------------------------------

def test_suno_submit_and_record_info(client: TestClient) -> None:
    key = key_of(client)
    response = client.post("/api/v1/generate/add-instrumental", headers=auth(key),
                           json=suno_body(upload(client, key)))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] == 200 and body["msg"] == "success"
    task_id = body["data"]["taskId"]
    data = wait_record(client, key, task_id, until={"SUCCESS", "GENERATE_AUDIO_FAILED"})
    assert data["status"] == "SUCCESS"
    assert data["taskId"] == task_id and data["response"]["taskId"] == task_id
    assert data["errorCode"] is None and data["errorMessage"] is None
    assert json.loads(data["param"])["title"] == "Night Drive"
    tracks = data["response"]["sunoData"]
    assert len(tracks) == 2
    for track in tracks:
        assert set(track) >= {"id", "audioUrl", "streamAudioUrl", "imageUrl", "prompt",
                              "modelName", "title", "tags", "createTime", "duration"}
        assert track["modelName"] == "V5" and track["title"] == "Night Drive"
        assert client.get(track["audioUrl"]).status_code == 200
    # the same task through the vidgo status route
    status = client.get(f"/api/generate/status/{task_id}", headers=auth(key)).json()["data"]
    assert status["status"] == "finished" and status["progress"] == 100


@pytest.mark.parametrize(
    ("fields", "param"),
    [({"styleWeight": 1.5}, "styleWeight"), ({"styleWeight": 0.123}, "styleWeight"),
     ({"title": "x" * 101}, "title"), ({"vocalGender": "x"}, "vocalGender"),
     ({"callBackUrl": "ftp://x"}, "callBackUrl"), ({"uploadUrl": "file:///etc/passwd"},
                                                  "uploadUrl")],
)
def test_suno_invalid_fields_are_422(client: TestClient, fields: dict, param: str) -> None:
    key = key_of(client)
    response = client.post("/api/v1/generate/add-instrumental", headers=auth(key),
                           json=suno_body("https://cdn.example.com/v.wav", **fields))
    assert_error(response, 422, param=param)


def test_suno_auth_ownership_and_unknown(client: TestClient) -> None:
    key = key_of(client)
    other = client.app.state.services.keys.create(name="other").key
    assert_error(client.post("/api/v1/generate/add-instrumental", json=suno_body("x")), 401)
    assert_error(client.get("/api/v1/generate/record-info", params={"taskId": "a"}), 401)
    task_id = client.post("/api/v1/generate/add-instrumental", headers=auth(key),
                          json=suno_body(upload(client, key))).json()["data"]["taskId"]
    assert_error(client.get("/api/v1/generate/record-info", params={"taskId": task_id},
                            headers=auth(other)), 403)
    assert_error(client.get("/api/v1/generate/record-info", params={"taskId": "0" * 32},
                            headers=auth(key)), 404)
    assert_error(client.get("/api/v1/generate/record-info", headers=auth(key)), 422)
    assert_error(client.post("/api/v1/generate/add-instrumental", headers=auth(key),
                             content=b"{nope", ), 400)


def test_suno_failed_task_status(tmp_path: Path) -> None:
    def broken(request, *, out_dir, settings, on_stage=None):  # noqa: ANN001
        raise RuntimeError("/secret/path exploded")

    with TestClient(create_app(make_settings(tmp_path), generate=broken)) as client:
        key = key_of(client)
        task_id = client.post("/api/v1/generate/add-instrumental", headers=auth(key),
                              json=suno_body(upload(client, key))).json()["data"]["taskId"]
        data = wait_record(client, key, task_id, until={"SUCCESS", "GENERATE_AUDIO_FAILED"})
    assert data["status"] == "GENERATE_AUDIO_FAILED"
    assert data["errorCode"] == 500
    assert "secret" not in data["errorMessage"]


# --- progress moves with the stages -----------------------------------------------------------

def test_progress_and_status_move_with_the_stages(tmp_path: Path) -> None:
    arrived: queue.Queue[str] = queue.Queue()
    proceed = threading.Semaphore(0)

    def stepping(request, *, out_dir, settings, on_stage=None):  # noqa: ANN001
        def step(event: StageEvent) -> None:
            on_stage(event)
            arrived.put(event.stage)
            assert proceed.acquire(timeout=10)
        return fake_generate(request, out_dir=out_dir, settings=settings, on_stage=step)

    with TestClient(create_app(make_settings(tmp_path), generate=stepping)) as client:
        key = key_of(client)
        task_id = client.post("/api/v1/generate/add-instrumental", headers=auth(key),
                              json=suno_body(upload(client, key))).json()["data"]["taskId"]
        seen: list[tuple[str, str, str, int]] = []
        while True:
            try:
                stage = arrived.get(timeout=10)
            except queue.Empty:
                break
            status = client.get(f"/api/generate/status/{task_id}", headers=auth(key)).json()["data"]
            record = client.get("/api/v1/generate/record-info", params={"taskId": task_id},
                                headers=auth(key)).json()["data"]
            seen.append((stage, status["status"], record["status"], status["progress"]))
            proceed.release()
            if stage == "complete":
                break
        final = wait_record(client, key, task_id, until={"SUCCESS"})
    stages = [s[0] for s in seen]
    assert stages == ["ingest", "analysis", "text", "first", "render", "complete"]
    assert {s[1] for s in seen} == {"running"}  # running from the first stage on
    progress = [s[3] for s in seen]
    assert progress == sorted(progress) and 0 < progress[0] and progress[-1] < 100
    assert [s[2] for s in seen] == ["PENDING", "PENDING", "TEXT_SUCCESS", "FIRST_SUCCESS",
                                    "FIRST_SUCCESS", "FIRST_SUCCESS"]
    assert final["progress"] == 100


# --- limits -------------------------------------------------------------------------------

def test_json_body_over_the_cap_is_413_before_reading(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_json_body_bytes=2048)
    with TestClient(create_app(settings, generate=fake_generate)) as client:
        key = key_of(client)
        big = vidgo_body("https://cdn.example.com/v.wav", tags="x" * 5000)
        assert_error(client.post("/api/generate/submit", headers=auth(key), json=big), 413)

        def chunked():  # no Content-Length: counted as it streams
            yield json.dumps(big).encode()

        assert_error(client.post("/api/generate/submit", headers=auth(key),
                                 content=chunked()), 413)
        assert client.app.state.services.tasks.recoverable(max_attempts=3) == []


def test_streamed_upload_over_the_cap_is_413(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_upload_bytes=10_000)
    with TestClient(create_app(settings, generate=fake_generate)) as client:
        key = key_of(client)
        huge = b"RIFF\x00\x00\x00\x00WAVE" + bytes(200_000)

        def chunks():
            for start in range(0, len(huge), 8192):
                yield huge[start:start + 8192]

        boundary = "sidemanboundary"
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\n").encode()

        def multipart():
            yield head
            yield from chunks()
            yield f"\r\n--{boundary}--\r\n".encode()

        response = client.post("/api/common/upload/stream", headers={
            **auth(key), "content-type": f"multipart/form-data; boundary={boundary}"},
            content=multipart())
        assert_error(response, 413)
        response = client.post("/api/common/upload/stream", headers=auth(key),
                               files={"file": ("a.wav", huge, "audio/wav")})
        assert_error(response, 413)
    assert not [p for p in settings.uploads_dir.iterdir() if p.is_file()]


def test_not_audio_is_415(client: TestClient) -> None:
    key = key_of(client)
    response = client.post("/api/common/upload/stream", headers=auth(key),
                           files={"file": ("notes.txt", b"just some text", "text/plain")})
    assert_error(response, 415)
    response = client.post("/api/common/upload/base64", headers=auth(key),
                           json={"base64_data": "PGh0bWw+PC9odG1sPg=="})
    assert_error(response, 415)


def test_rate_limit_is_429_with_retry_after(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, rate_limit_per_minute=3, submit_rate_limit_per_minute=1)
    with TestClient(create_app(settings, generate=fake_generate)) as client:
        key = key_of(client)
        for _ in range(3):
            assert client.get("/api/generate/status/" + "0" * 32, headers=auth(key)).status_code == 404
        response = client.get("/api/generate/status/" + "0" * 32, headers=auth(key))
        assert_error(response, 429)
        assert int(response.headers["retry-after"]) >= 1
        other = client.app.state.services.keys.create(name="b").key  # per key
        file_url = upload(client, other)
        assert client.post("/api/generate/submit", headers=auth(other),
                           json=vidgo_body(file_url)).status_code == 200
        response = client.post("/api/v1/generate/add-instrumental", headers=auth(other),
                               json=suno_body(file_url))
        assert_error(response, 429)
        assert response.headers["retry-after"] == "60"


def test_internal_error_is_500_without_internals(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path), generate=fake_generate)
    with TestClient(app, raise_server_exceptions=False) as client:
        key = key_of(client)

        def explode(**_kwargs: object):  # noqa: ANN202
            raise RuntimeError("password=hunter2 at /srv/secret.py")

        app.state.services.tasks.create = explode
        response = client.post("/api/generate/submit", headers=auth(key),
                               json=vidgo_body(upload(client, key)))
        body = assert_error(response, 500)
        assert "hunter2" not in response.text and "secret" not in response.text
        assert body["error"]["message"] == "internal server error"


# --- files --------------------------------------------------------------------------------

def test_files_answer_range_requests(client: TestClient) -> None:
    key = key_of(client)
    file_url = upload(client, key)
    whole = client.get(file_url)
    assert whole.status_code == 200 and whole.headers["content-type"] == "audio/wav"
    part = client.get(file_url, headers={"Range": "bytes=4-11"})
    assert part.status_code == 206
    assert part.content == whole.content[4:12]
    assert part.headers["content-range"].startswith("bytes 4-11/")
    assert_error(client.get("/files/uploads/" + "f" * 32 + ".wav"), 404)
    assert_error(client.get("/files/results/" + "0" * 32 + "/v1/song.mp3"), 404)


# --- operations ---------------------------------------------------------------------------

def test_readyz_reflects_the_database(client: TestClient) -> None:
    assert client.get("/readyz").json()["status"] == "ok"
    services = client.app.state.services
    real_engine = services.db.engine

    class Broken:
        def connect(self):  # noqa: ANN202
            raise OSError("disk gone")

    services.db.engine = Broken()
    try:
        assert_error(client.get("/readyz"), 503)
        assert client.get("/healthz").status_code == 200
    finally:
        services.db.engine = real_engine


def test_metrics_count_tasks_and_deliveries(client: TestClient) -> None:
    key = key_of(client)
    task_id = client.post("/api/generate/submit", headers=auth(key),
                          json=vidgo_body(upload(client, key))).json()["data"]["task_id"]
    wait_record(client, key, task_id, until={"SUCCESS"})
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'sideman_tasks{status="finished"} 1' in text
    assert "sideman_queue_depth 0" in text
    assert "sideman_task_duration_seconds_count 1" in text
    assert 'sideman_task_duration_seconds_bucket{le="+Inf"} 1' in text
    assert "sideman_task_failures 0" in text
    assert "sideman_uploads 1" in text


def test_openapi_and_docs(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    for path in ("/api/generate/submit", "/api/generate/status/{task_id}",
                 "/api/generate/detail/music", "/api/v1/generate/add-instrumental",
                 "/api/v1/generate/record-info", "/api/common/upload/stream",
                 "/api/common/upload/url", "/api/common/upload/base64", "/healthz",
                 "/readyz", "/metrics"):
        assert path in schema["paths"], path
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


# --- retention ----------------------------------------------------------------------------

def test_retention_removes_old_results_and_uploads(client: TestClient) -> None:
    key = key_of(client)
    services = client.app.state.services
    settings = services.settings
    old_id = client.post("/api/generate/submit", headers=auth(key), json=vidgo_body(
        upload(client, key)) | {"callback_url": "https://hooks.example.com/x"}).json()["data"]["task_id"]
    new_id = client.post("/api/generate/submit", headers=auth(key),
                         json=vidgo_body(upload(client, key))).json()["data"]["task_id"]
    for task_id in (old_id, new_id):
        wait_record(client, key, task_id, until={"SUCCESS"})
    stray = settings.uploads_dir / "leftover.wav"
    stray.write_bytes(b"x")
    os.utime(stray, (time.time() - 80 * 3600,) * 2)
    later = utcnow() + timedelta(days=1)
    with services.db.sessions.begin() as session:
        session.get(TaskRow, old_id).finished_at = utcnow() - timedelta(days=15)
        first_upload = session.query(UploadRow).order_by(UploadRow.created_at).first()
        first_upload.expires_at = utcnow() - timedelta(seconds=1)
        expired_name = first_upload.file_name
    report = clean_up(db=services.db, settings=settings, results=services.results,
                      uploads=services.uploads, now=later)
    assert report.tasks_removed == 1 and report.uploads_removed == 2
    assert not (settings.results_dir / old_id).exists()
    assert (settings.results_dir / new_id).is_dir()
    assert not (settings.uploads_dir / expired_name).exists() and not stray.exists()
    with services.db.sessions() as session:
        assert session.get(TaskRow, old_id) is None
        assert session.query(WebhookRow).filter_by(task_id=old_id).count() == 0
        assert session.get(UploadRow, expired_name) is None
    assert_error(client.get(f"/api/generate/status/{old_id}", headers=auth(key)), 404)
    assert client.get(f"/api/generate/status/{new_id}", headers=auth(key)).status_code == 200


# --- uploads and inputs by URL (a real loopback server) -----------------------------------

@pytest.fixture
def media_server():
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    files = {"/take.wav": (wav_bytes(), "audio/wav"), "/page.html": (b"<html></html>", "text/html")}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body, kind = files.get(self.path, (b"", "text/plain"))
            self.send_response(200 if self.path in files else 404)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_upload_by_url(tmp_path: Path, media_server: str) -> None:
    settings = make_settings(tmp_path, allow_private_urls=True)
    with TestClient(create_app(settings, generate=fake_generate)) as client:
        key = key_of(client)
        response = client.post("/api/common/upload/url", headers=auth(key),
                               json={"file_url": f"{media_server}/take.wav"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["success"] is True and body["msg"] == "File uploaded successfully"
        data = body["data"]
        assert data["mime_type"] == "audio/wav" and data["original_name"] == "take.wav"
        assert client.get(data["file_url"]).content == wav_bytes()
        assert_error(client.post("/api/common/upload/url", headers=auth(key),
                                 json={"file_url": f"{media_server}/page.html"}), 415,
                     param="file_url")
        assert_error(client.post("/api/common/upload/url", headers=auth(key),
                                 json={"file_url": f"{media_server}/missing.wav"}), 422,
                     param="file_url")
        assert_error(client.post("/api/common/upload/url", headers=auth(key), json={}), 422)
        assert_error(client.post("/api/common/upload/url",
                                 json={"file_url": f"{media_server}/take.wav"}), 401)


def test_upload_by_url_refuses_private_addresses_by_default(client: TestClient,
                                                           media_server: str) -> None:
    response = client.post("/api/common/upload/url", headers=auth(key_of(client)),
                           json={"file_url": f"{media_server}/take.wav"})
    body = assert_error(response, 422, param="file_url")
    assert "private or local" in body["error"]["message"]


def test_remote_upload_url_is_fetched_by_the_worker(tmp_path: Path, media_server: str) -> None:
    settings = make_settings(tmp_path, allow_private_urls=True)
    with TestClient(create_app(settings, generate=fake_generate)) as client:
        key = key_of(client)
        good = client.post("/api/generate/submit", headers=auth(key), json=vidgo_body(
            f"{media_server}/take.wav")).json()["data"]["task_id"]
        bad = client.post("/api/generate/submit", headers=auth(key), json=vidgo_body(
            f"{media_server}/page.html")).json()["data"]["task_id"]
        for task_id in (good, bad):
            wait_record(client, key, task_id, until={"SUCCESS", "GENERATE_AUDIO_FAILED"})
        assert client.get(f"/api/generate/status/{good}", headers=auth(key)).json()["data"][
            "status"] == "finished"
        failed = client.get(f"/api/generate/status/{bad}", headers=auth(key)).json()["data"]
    assert failed["status"] == "failed" and "not audio" in failed["error_message"]
