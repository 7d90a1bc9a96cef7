"""Kill and restart loses nothing: `sideman serve` runs as a subprocess on a free port
with a temporary data folder and a slow fake pipeline; a task is submitted, the server
is SIGKILLed mid-task, started again, and the task finishes with every callback
delivered once, in order, signed."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from sideman.tasks import verify_signature

START_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sideman_command() -> list[str]:
    script = Path(sys.executable).with_name("sideman")
    if script.exists():
        return [str(script), "serve"]
    found = shutil.which("sideman")
    return [found, "serve"] if found else [sys.executable, "-m", "sideman.cli", "serve"]


def start_server(tmp_path: Path, port: int, log_name: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIDEMAN_")}
    env.update({
        "SIDEMAN_DATA_DIR": str(tmp_path / "data"),
        "SIDEMAN_HOST": "127.0.0.1",
        "SIDEMAN_PORT": str(port),
        "SIDEMAN_PIPELINE": "sideman.tasks.testing:slow_fake_generate",
        "SIDEMAN_TASK_LEASE_SECONDS": "2",
        "SIDEMAN_ALLOW_PRIVATE_URLS": "true",
        "SIDEMAN_CALLBACK_RETRY_DELAYS_SECONDS": "[0.2, 0.2, 0.2]",
        "SIDEMAN_CALLBACK_BACKOFF_SECONDS": "[]",
        "SIDEMAN_CALLBACK_TIMEOUT_SECONDS": "2",
    })
    log = open(tmp_path / log_name, "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(sideman_command(), cwd=tmp_path, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError((tmp_path / log_name).read_text(errors="replace"))
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise AssertionError("sideman serve did not start: "
                         + (tmp_path / log_name).read_text(errors="replace"))


class Receiver:
    def __init__(self) -> None:
        self.requests: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def distinct(receiver: Receiver) -> list[tuple[dict, bytes]]:
    """The callbacks received, the first of each webhook-id, in arrival order."""
    seen: dict[str, tuple[dict, bytes]] = {}
    for headers, body in list(receiver.requests):
        seen.setdefault(headers["webhook-id"], (headers, body))
    return list(seen.values())


def wav_bytes() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(8000)
        handle.writeframes(b"\x00\x10" * 8000)
    return buffer.getvalue()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_sigkill_mid_task_then_restart_finishes_it(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    receiver = Receiver()
    first = start_server(tmp_path, port, "first.log")
    second = None
    try:
        key = (tmp_path / "data" / "local-api-key").read_text().strip()
        secret = (tmp_path / "data" / "local-webhook-secret").read_text().strip()
        headers = {"Authorization": f"Bearer {key}"}
        stored = httpx.post(f"{base}/api/common/upload/stream", headers=headers,
                            files={"file": ("take.wav", wav_bytes(), "audio/wav")}).json()["data"]
        response = httpx.post(f"{base}/api/generate/submit", headers=headers, json={
            "model": "add-instrumental", "callback_url": receiver.url,
            "input": {"upload_url": stored["file_url"], "title": "Kill me", "tags": "pop",
                      "negative_tags": "", "variations": 2}})
        assert response.status_code == 200, response.text
        task_id = response.json()["data"]["task_id"]

        deadline = time.monotonic() + 30
        status: dict = {}
        while time.monotonic() < deadline:  # wait until it is past the `text` stage
            status = httpx.get(f"{base}/api/generate/status/{task_id}", headers=headers).json()["data"]
            if status["status"] != "not_started" and status["progress"] >= 30 or \
                    status["status"] in ("finished", "failed"):
                break
            time.sleep(0.05)
        assert status["status"] == "running" and status["progress"] < 100, (
            status, (tmp_path / "first.log").read_text(errors="replace")[-3000:])
        first.send_signal(signal.SIGKILL)
        first.wait(10)

        second = start_server(tmp_path, port, "second.log")
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            status = httpx.get(f"{base}/api/generate/status/{task_id}", headers=headers).json()["data"]
            if status["status"] in ("finished", "failed"):
                break
            time.sleep(0.1)
        assert status["status"] == "finished", status
        assert status["progress"] == 100 and len(status["files"]) == 2
        for item in status["files"]:
            assert httpx.get(item["file_url"]).status_code == 200
        # a callback being sent at the kill is locked for timeout + 5 s, then sent again
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(distinct(receiver)) < 3:
            time.sleep(0.05)
        time.sleep(0.3)  # nothing more should arrive
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
        receiver.close()
    # at least once, deduplicated by webhook-id (a try cut short by the kill may repeat)
    kinds = [json.loads(body)["data"]["callback_type"] for _h, body in distinct(receiver)]
    assert kinds == ["text", "first", "complete"]
    assert len(receiver.requests) <= 4
    for request_headers, body in receiver.requests:
        assert verify_signature(secret=secret, headers=request_headers, body=body)
    with sqlite3.connect(tmp_path / "data" / "sideman.db") as db:
        attempts = db.execute("SELECT attempts FROM tasks WHERE id = ?", (task_id,)).fetchone()[0]
    assert attempts == 2
