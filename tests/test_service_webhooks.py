"""Callbacks over real loopback HTTP: a local receiver checks every Standard Webhooks
signature with the key's whsec_ secret, the stage order, the stable webhook-id across
retries, both callback shapes (vidgo and Suno-style) and that a receiver that never
answers 2xx does not fail the task."""

from __future__ import annotations

import io
import json
import threading
import time
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sideman.api import create_app
from sideman.settings import Settings
from sideman.tasks import verify_signature
from sideman.tasks.testing import fake_generate


class Receiver:
    """A webhook receiver on 127.0.0.1; `script` answers each request in turn (status
    codes; after it runs out, 200)."""

    def __init__(self, script: list[int] | None = None) -> None:
        self.requests: list[tuple[dict, bytes]] = []
        self.script = list(script or [])
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.script.pop(0) if receiver.script else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://169.254.169.254/latest/meta-data")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def bodies(self) -> list[dict]:
        return [json.loads(body) for _headers, body in self.requests]


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict = {"data_dir": tmp_path / "data", "allow_private_urls": True,
                    "callback_retry_delays_seconds": (0.05, 0.05, 0.05),
                    "callback_backoff_seconds": ()}
    values.update(overrides)
    return Settings(_env_file=None, **values)


def wav_bytes() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(8000)
        handle.writeframes(b"\x00\x10" * 4000)
    return buffer.getvalue()


def run_task(client: TestClient, *, family: str, callback_url: str, variations: int = 2) -> str:
    key = client.app.state.services.local_key.plain
    headers = {"Authorization": f"Bearer {key}"}
    file_url = client.post("/api/common/upload/stream", headers=headers, files={
        "file": ("take.wav", wav_bytes(), "audio/wav")}).json()["data"]["file_url"]
    if family == "suno":
        response = client.post("/api/v1/generate/add-instrumental", headers=headers, json={
            "uploadUrl": file_url, "title": "Song", "tags": "pop", "negativeTags": "",
            "callBackUrl": callback_url, "variations": variations})
        task_id = response.json()["data"]["taskId"]
    else:
        response = client.post("/api/generate/submit", headers=headers, json={
            "model": "add-instrumental", "callback_url": callback_url,
            "input": {"upload_url": file_url, "title": "Song", "tags": "pop",
                      "negative_tags": "", "variations": variations}})
        task_id = response.json()["data"]["task_id"]
    assert response.status_code == 200, response.text
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = client.get(f"/api/generate/status/{task_id}", headers=headers).json()["data"]
        if status["status"] in ("finished", "failed"):
            break
        time.sleep(0.03)
    assert client.app.state.services.callbacks.join(10)
    return task_id


def assert_signed(receiver: Receiver, secret: str) -> None:
    for headers, body in receiver.requests:
        assert headers["content-type"] == "application/json"
        assert headers["webhook-id"].startswith("msg_")
        assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
        assert headers["webhook-signature"].startswith("v1,")
        assert verify_signature(secret=secret, headers=headers, body=body)
        assert not verify_signature(secret=secret, headers=headers, body=body + b"x")


def test_vidgo_callbacks_signed_in_stage_order(tmp_path: Path) -> None:
    with Receiver() as receiver, TestClient(create_app(make_settings(tmp_path),
                                                       generate=fake_generate)) as client:
        secret = client.app.state.services.local_key.webhook_secret
        task_id = run_task(client, family="vidgo", callback_url=receiver.url)
    assert secret and secret.startswith("whsec_")
    assert_signed(receiver, secret)
    bodies = receiver.bodies()
    assert [b["data"]["callback_type"] for b in bodies] == ["text", "first", "complete"]
    assert all(b["code"] == 200 and b["data"]["task_id"] == task_id for b in bodies)
    assert bodies[0]["data"]["files"] == []
    # what was heard reaches the client at the text stage (ext)
    assert bodies[0]["data"]["analysis"]["tempo_bpm"] > 0 and bodies[0]["data"]["analysis"]["key"]
    assert len(bodies[1]["data"]["files"]) == 1
    assert bodies[2]["data"]["status"] == "finished" and len(bodies[2]["data"]["files"]) == 2
    assert len({h["webhook-id"] for h, _b in receiver.requests}) == 3


def test_suno_callbacks_have_the_suno_shape(tmp_path: Path) -> None:
    with Receiver() as receiver, TestClient(create_app(make_settings(tmp_path),
                                                       generate=fake_generate)) as client:
        secret = client.app.state.services.local_key.webhook_secret
        task_id = run_task(client, family="suno", callback_url=receiver.url)
    assert_signed(receiver, secret)
    bodies = receiver.bodies()
    assert [b["data"]["callbackType"] for b in bodies] == ["text", "first", "complete"]
    assert all(b["code"] == 200 and b["msg"] and b["data"]["task_id"] == task_id for b in bodies)
    assert [len(b["data"]["data"]) for b in bodies] == [0, 1, 2]
    assert bodies[0]["data"]["analysis"]["tempo_bpm"] > 0  # ext
    assert bodies[2]["data"]["data"][0]["audioUrl"].endswith("/v1/song.mp3")


@pytest.mark.parametrize("family", ["vidgo", "suno"])
def test_failed_task_sends_failed_callback(tmp_path: Path, family: str) -> None:
    def broken(request, *, out_dir, settings, on_stage=None):  # noqa: ANN001
        raise RuntimeError("boom")

    with Receiver() as receiver, TestClient(create_app(make_settings(tmp_path),
                                                       generate=broken)) as client:
        secret = client.app.state.services.local_key.webhook_secret
        run_task(client, family=family, callback_url=receiver.url)
    assert_signed(receiver, secret)
    (body,) = receiver.bodies()
    if family == "suno":
        assert body["data"]["callbackType"] == "error" and body["code"] == 500
    else:
        assert body["data"]["callback_type"] == "failed" and body["data"]["status"] == "failed"


def test_retries_keep_the_webhook_id_and_re_sign(tmp_path: Path) -> None:
    with Receiver(script=[500, 503]) as receiver, TestClient(
            create_app(make_settings(tmp_path), generate=fake_generate)) as client:
        secret = client.app.state.services.local_key.webhook_secret
        run_task(client, family="vidgo", callback_url=receiver.url, variations=1)
    assert_signed(receiver, secret)
    ids = [h["webhook-id"] for h, _b in receiver.requests]
    assert len(ids) == 5  # text three times (500, 503, 200), then first, complete
    assert ids[0] == ids[1] == ids[2] and len(set(ids)) == 3
    assert [b["data"]["callback_type"] for b in receiver.bodies()] == [
        "text", "text", "text", "first", "complete"]


def test_redirecting_receiver_never_fails_the_task(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, callback_retry_delays_seconds=(0.01,) * 3)
    with Receiver(script=[302] * 12) as receiver, TestClient(
            create_app(settings, generate=fake_generate)) as client:
        task_id = run_task(client, family="vidgo", callback_url=receiver.url, variations=1)
        key = client.app.state.services.local_key.plain
        status = client.get(f"/api/generate/status/{task_id}",
                            headers={"Authorization": f"Bearer {key}"}).json()["data"]
        metrics = client.get("/metrics").text
    assert status["status"] == "finished"
    assert len(receiver.requests) == 12  # 3 callbacks x 4 tries, the redirect not followed
    assert all(h.get("host", "").startswith("127.0.0.1") for h, _b in receiver.requests)
    assert 'sideman_webhook_deliveries{status="failed"} 3' in metrics


def test_settings_key_signs_with_its_configured_secret(tmp_path: Path) -> None:
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    settings = make_settings(tmp_path, api_key="sm_from_env", webhook_secret=secret)
    with Receiver() as receiver, TestClient(create_app(settings, generate=fake_generate)) as client:
        assert client.app.state.services.local_key.plain == "sm_from_env"
        run_task(client, family="vidgo", callback_url=receiver.url, variations=1)
    assert len(receiver.requests) == 3
    assert_signed(receiver, secret)
