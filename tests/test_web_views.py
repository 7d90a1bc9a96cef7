"""What the page reads besides the upstream contract: the *ext* `stage` and `prompts` of
the status answer (the brief before the audio exists), the per-take timeline fields of
the detail answer, and the tag suggestions written into the page."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime
from pathlib import Path

from fastapi.testclient import TestClient

from sideman.api import create_app
from sideman.settings import Settings
from sideman.tasks.store import Task
from sideman.tasks.testing import fake_generate
from sideman.tasks.views import detail_data, status_data

BASE = "http://127.0.0.1:8000"

VARIATION = {
    "audio_id": "a1", "variation": 1, "prompt": "Take 1: a pop arrangement", "tempo_bpm": 100.0,
    "meter": "4/4", "key": "G major", "beats_seconds": [0.0, 0.6, 1.2, 1.8, 2.4],
    "downbeats_seconds": [0.0, 2.4], "offset_seconds": 1.79, "duration_seconds": 17.1,
    "chords": [{"start_seconds": 0.0, "end_seconds": 2.4, "label": "G:maj"}],
}
FILES = {"song_mp3": "v1/song.mp3", "instrumental_mp3": "v1/instrumental.mp3",
         "instrumental_wav": "v1/instrumental.wav", "midi": "v1/arrangement.mid",
         "chords_json": "v1/chords.json", "lead_sheet": "v1/chords.txt", "cover": "v1/cover.jpg",
         "stems": {"drums": "v1/stems/drums.wav"}}


def make_task(*, status: str, stage: str | None, manifest: dict | None) -> Task:
    values = {field.name: None for field in dataclasses.fields(Task)}
    values.update(id="t" * 32, owner_key_hash="h", family="vidgo", status=status, stage=stage,
                  progress=20 if status == "running" else 100, request={"input": {"title": "Hum"}},
                  manifest=manifest, created_at=datetime(2026, 1, 1, 12, 0, 0), attempts=1)
    return Task(**values)


def test_status_carries_the_brief_as_soon_as_the_text_stage_wrote_it() -> None:
    text_stage = make_task(status="running", stage="text", manifest={"variations": [dict(VARIATION)]})
    data = status_data(text_stage, base_url=BASE)
    assert data["prompts"] == ["Take 1: a pop arrangement"]
    assert data["stage"] == "text"
    assert data["files"] == []  # the upstream fields keep their meaning
    before = make_task(status="running", stage="analysis", manifest={"variations": []})
    assert status_data(before, base_url=BASE)["prompts"] == []
    queued = make_task(status="not_started", stage=None, manifest=None)
    assert status_data(queued, base_url=BASE)["prompts"] == []
    assert detail_data(text_stage, base_url=BASE)["prompts"] == ["Take 1: a pop arrangement"]


def test_detail_lists_the_timeline_and_every_file_of_a_take() -> None:
    finished = make_task(status="finished", stage="complete",
                         manifest={"variations": [dict(VARIATION, files=FILES)]})
    item = detail_data(finished, base_url=BASE)["files"][0]
    assert item["beats"] == VARIATION["beats_seconds"]
    assert item["downbeats"] == VARIATION["downbeats_seconds"]
    assert item["offset_seconds"] == 1.79
    assert item["chords"][0]["label"] == "G:maj"
    prefix = f"{BASE}/files/results/{finished.id}/"
    assert item["chords_url"] == prefix + "v1/chords.json"
    assert item["lead_sheet_url"] == prefix + "v1/chords.txt"
    assert item["stems"] == {"drums": prefix + "v1/stems/drums.wav"}


def test_page_embeds_tag_suggestions_and_no_key_for_a_remote_client(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data")
    with TestClient(create_app(settings, generate=fake_generate)) as client:
        response = client.get("/")  # TestClient's peer is "testclient": not loopback
    assert response.status_code == 200
    match = re.search(r'<script id="sideman-config" type="application/json">(.*?)</script>', response.text)
    config = json.loads(match.group(1))
    assert config["apiKey"] is None
    assert "piano" in config["tags"]["instruments"]
    assert "pop" in config["tags"]["genres"]
    assert config["tags"]["moods"]


def test_static_files_are_served(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data")
    with TestClient(create_app(settings, generate=fake_generate)) as client:
        for name, kind in (("app.js", "javascript"), ("style.css", "text/css")):
            response = client.get(f"/static/{name}")
            assert response.status_code == 200 and kind in response.headers["content-type"]
