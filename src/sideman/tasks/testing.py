"""Test doubles that ship with the code: a fast fake `generate` with the real one's
signature, files and manifest shape (shared CLI.md), and the same stage events."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from sideman.pipeline import GenerateRequest, StageCallback, StageEvent
from sideman.settings import Settings

__all__ = ["fake_generate", "slow_fake_generate"]

_FAKE_MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 16
_FAKE_WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(64)


def fake_generate(
    request: GenerateRequest,
    *,
    out_dir: Path,
    settings: Settings,
    on_stage: StageCallback | None = None,
) -> dict:
    """Write `request.variations` tiny variations and a manifest; report every stage."""
    report = on_stage or (lambda _event: None)
    analysis = {
        "duration_seconds": 6.0, "tempo_bpm": 100.0, "meter": "4/4", "key": "C major",
        "beats_seconds": [0.0, 0.6], "downbeats_seconds": [0.0],
        "notes": [], "chords": [{"start_seconds": 0.0, "end_seconds": 6.0, "label": "C:maj"}],
        "sections": [], "vocal_range_midi": [60, 72],
    }
    manifest: dict = {
        "title": request.title, "tags": request.tags, "negative_tags": request.negative_tags,
        "model": request.model, "analysis": analysis, "timings_seconds": {}, "variations": [],
    }
    report(StageEvent("ingest", 5, dict(manifest)))
    report(StageEvent("analysis", 20, dict(manifest)))
    for index in range(request.variations):
        manifest["variations"].append({
            "audio_id": uuid.uuid4().hex, "seed": (request.seed or 0) + index,
            "prompt": f"a {request.tags or 'plain'} arrangement, take {index + 1}",
            "tempo_bpm": 100.0, "meter": "4/4", "key": "C major",
            "beats_seconds": [0.0, 0.6], "downbeats_seconds": [0.0],
            "chords": analysis["chords"], "instruments": [],
            "duration_seconds": 6.0, "loudness_lufs": -14.0, "true_peak_dbtp": -1.2,
        })
    report(StageEvent("text", 30, json.loads(json.dumps(manifest))))
    for index, variation in enumerate(manifest["variations"]):
        folder = f"v{index + 1}"
        (out_dir / folder / "stems").mkdir(parents=True, exist_ok=True)
        files = {"song_mp3": f"{folder}/song.mp3", "instrumental_mp3": f"{folder}/instrumental.mp3",
                 "instrumental_wav": f"{folder}/instrumental.wav",
                 "midi": f"{folder}/arrangement.mid", "cover": f"{folder}/cover.jpg",
                 "stems": {"drums": f"{folder}/stems/drums.wav"}}
        (out_dir / files["song_mp3"]).write_bytes(_FAKE_MP3)
        (out_dir / files["instrumental_mp3"]).write_bytes(_FAKE_MP3)
        (out_dir / files["instrumental_wav"]).write_bytes(_FAKE_WAV)
        (out_dir / files["midi"]).write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0")
        (out_dir / files["cover"]).write_bytes(b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9")
        (out_dir / files["stems"]["drums"]).write_bytes(_FAKE_WAV)
        variation["files"] = files
        stage = "first" if index == 0 else "render"
        report(StageEvent(stage, 40 + 50 * (index + 1) // request.variations,
                          json.loads(json.dumps(manifest))))
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    report(StageEvent("complete", 100, json.loads(json.dumps(manifest))))
    return manifest


def slow_fake_generate(
    request: GenerateRequest,
    *,
    out_dir: Path,
    settings: Settings,
    on_stage: StageCallback | None = None,
) -> dict:
    """`fake_generate`, taking about a second per stage: long enough to kill a server
    mid-task (the restart test runs `sideman serve` with SIDEMAN_PIPELINE pointing here)."""
    import time

    def slow(event: StageEvent) -> None:
        time.sleep(SLOW_STAGE_SECONDS)
        if on_stage is not None:
            on_stage(event)

    return fake_generate(request, out_dir=out_dir, settings=settings, on_stage=slow)


SLOW_STAGE_SECONDS = 0.8
