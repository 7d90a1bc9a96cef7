"""A task as the outside sees it: the `data` objects of the status and detail answers
(and of callbacks, which carry the detail body). See shared API.md.

File URLs are ``{base_url}/files/results/{task_id}/{path in the manifest}``; the task id
is unguessable, which is what keeps the files private.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from sideman.tasks.db import TaskStatus
from sideman.tasks.store import Task

__all__ = ["detail_data", "result_url", "status_data", "time_text"]


def status_data(task: Task, *, base_url: str) -> dict:
    """`data` of GET /api/generate/status/{task_id}."""
    files = [
        {"file_url": item["audio_url"], "file_type": "audio"}
        for item in _variation_files(task, base_url=base_url, results_dir=None)
        if item.get("audio_url")
    ] if task.status == TaskStatus.FINISHED else []
    return {
        "task_id": task.id,
        "status": task.status,
        "files": files,
        "created_time": time_text(task),
        "progress": task.progress,
        "error_message": task.error_message,
    }


def detail_data(task: Task, *, base_url: str, results_dir: Path | None = None) -> dict:
    """`data` of GET /api/generate/detail/music.

    `files` is empty until the task is finished. With results_dir given, a running
    task's variations whose song file is already on disk are listed too (the `first`
    callback uses that).
    """
    if task.status == TaskStatus.FINISHED:
        files = _variation_files(task, base_url=base_url, results_dir=None)
    elif results_dir is not None and task.status == TaskStatus.RUNNING:
        files = _variation_files(task, base_url=base_url, results_dir=results_dir)
    else:
        files = []
    return {
        "task_id": task.id,
        "status": task.status,
        "files": files,
        "created_time": time_text(task),
        "progress": task.progress,
        "error_message": task.error_message,
    }


def result_url(base_url: str, task_id: str, relative_path: str) -> str:
    return f"{base_url.rstrip('/')}/files/results/{task_id}/{quote(relative_path)}"


def time_text(task: Task) -> str:
    return task.created_at.isoformat(timespec="seconds")


def _variation_files(task: Task, *, base_url: str, results_dir: Path | None) -> list[dict]:
    manifest = task.manifest or {}
    request_input = task.request.get("input", {})
    analysis = manifest.get("analysis") or {}

    def url(relative: str | None) -> str | None:
        return result_url(base_url, task.id, relative) if relative else None

    out = []
    for variation in manifest.get("variations") or []:
        files = variation.get("files") or {}
        song = files.get("song_mp3")
        if not song:
            continue
        if results_dir is not None and not (results_dir / task.id / song).is_file():
            continue
        out.append(
            {
                "audio_id": variation.get("audio_id"),
                "audio_url": url(song),
                "image_url": url(files.get("cover")),
                "title": manifest.get("title", request_input.get("title", "")),
                "tags": manifest.get("tags", request_input.get("tags", "")),
                "duration": variation.get("duration_seconds"),
                "prompt": variation.get("prompt", ""),
                # ext
                "instrumental_url": url(files.get("instrumental_mp3")),
                "wav_url": url(files.get("instrumental_wav")),
                "stems": {role: url(path) for role, path in (files.get("stems") or {}).items()},
                "midi_url": url(files.get("midi")),
                "chords": variation.get("chords", analysis.get("chords", [])),
                "bpm": variation.get("tempo_bpm", analysis.get("tempo_bpm")),
                "key": variation.get("key", analysis.get("key")),
                "meter": variation.get("meter", analysis.get("meter")),
                "model": manifest.get("model", request_input.get("model")),
            }
        )
    return out
