"""Scale-out pieces that need no server: the embedded default imports none of the
optional packages, the pipeline child process relays stages and errors, and the API
stays up (and says so in /readyz) when Redis is away."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sideman.errors import InvalidInput, Transient
from sideman.pipeline import StageEvent
from sideman.settings import Settings


def test_the_embedded_default_imports_no_scale_out_package(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from sideman.settings import Settings\n"
        "from sideman.api.app import create_app\n"
        f"create_app(Settings(data_dir={str(tmp_path)!r}))\n"
        "import sideman.cli\n"
        "print(sorted(m for m in ('dramatiq', 'redis', 'psycopg', 'boto3', 'alembic', 'moto')"
        " if m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIDEMAN_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def _stages(request, *, out_dir, settings, on_stage=None):  # noqa: ANN001, ANN202
    on_stage(StageEvent("ingest", 5, {"pid": os.getpid()}))
    on_stage(StageEvent("analysis", 20, {"pid": os.getpid()}))
    return {"pid": os.getpid(), "title": request}


def _refuses(request, *, out_dir, settings, on_stage=None):  # noqa: ANN001, ANN202
    raise InvalidInput("too quiet") if request == "invalid" else Transient("busy")


def _dies(request, *, out_dir, settings, on_stage=None):  # noqa: ANN001, ANN202
    os.kill(os.getpid(), signal.SIGKILL)


def test_child_process_relays_stages_and_returns_the_manifest(tmp_path: Path) -> None:
    from sideman.tasks.isolation import in_child_process

    seen: list[StageEvent] = []
    manifest = in_child_process(_stages)("take", out_dir=tmp_path, settings=None,
                                         on_stage=seen.append)
    assert manifest["title"] == "take" and manifest["pid"] != os.getpid()
    assert [event.stage for event in seen] == ["ingest", "analysis"]
    assert seen[0].manifest["pid"] == manifest["pid"]


def test_child_process_errors_keep_their_family(tmp_path: Path) -> None:
    from sideman.tasks.isolation import in_child_process

    with pytest.raises(InvalidInput, match="too quiet"):
        in_child_process(_refuses)("invalid", out_dir=tmp_path, settings=None)
    with pytest.raises(Transient, match="busy"):
        in_child_process(_refuses)("other", out_dir=tmp_path, settings=None)
    with pytest.raises(Transient, match="died"):  # a crash is worth a retry, then a failure
        in_child_process(_dies)("x", out_dir=tmp_path, settings=None)


def test_api_with_redis_away_accepts_tasks_and_is_not_ready(tmp_path: Path, melody_wav: Path) -> None:
    pytest.importorskip("dramatiq")
    from fastapi.testclient import TestClient

    from sideman.api.app import create_app

    settings = Settings(data_dir=tmp_path, redis_url="redis://127.0.0.1:9/0",
                        api_key="sk-away", pipeline="sideman.tasks.testing:fake_generate")
    app = create_app(settings)
    headers = {"Authorization": "Bearer sk-away"}
    with TestClient(app) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "broker" in ready.text
        with open(melody_wav, "rb") as handle:
            upload = client.post("/api/common/upload/stream", headers=headers,
                                 files={"file": ("take.wav", handle, "audio/wav")})
        submitted = client.post("/api/generate/submit", headers=headers, json={
            "model": "add-instrumental",
            "input": {"upload_url": upload.json()["data"]["file_url"], "title": "later",
                      "tags": "piano", "negative_tags": ""}})
        assert submitted.status_code == 200, submitted.text  # kept in the database
        status = client.get(f"/api/generate/status/{submitted.json()['data']['task_id']}",
                            headers=headers)
        assert status.json()["data"]["status"] == "not_started"
        assert "sideman_queue_depth 1" in client.get("/metrics").text


def test_worker_shares_one_loaded_font_with_its_pipeline_children(monkeypatch) -> None:
    """A `sideman worker` forks a pipeline child per task: it loads the SoundFont once and
    its children synthesize in-process (no synthesis server and font load per task),
    unless the operator set SIDEMAN_SYNTH_PROCESSES."""
    pytest.importorskip("dramatiq")
    monkeypatch.setenv("SIDEMAN_REDIS_URL", "redis://127.0.0.1:6379/0")  # the module builds its broker
    from sideman.render import find_soundfont
    from sideman.render import synth as synth_module
    from sideman.tasks.dramatiq_worker import _synthesis_shared_with_pipeline_children

    shared = _synthesis_shared_with_pipeline_children(Settings())
    assert shared.synth_processes == 0
    assert (find_soundfont().path, shared.sample_rate_hz) in synth_module._cache
    assert _synthesis_shared_with_pipeline_children(Settings(synth_processes=2)).synth_processes == 2
