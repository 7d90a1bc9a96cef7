"""A task as the outside sees it: the `data` objects of the status and detail answers
(and of callbacks, which carry the detail body). See shared API.md.

File URLs are ``{base_url}/files/results/{task_id}/{path in the manifest}``; the task id
is unguessable, which is what keeps the files private.

Two families: the vidgo shape (`status_data`, `detail_data`) and the Suno-style shape
(`record_info_data`, whose status is PENDING, TEXT_SUCCESS, FIRST_SUCCESS, SUCCESS or
GENERATE_AUDIO_FAILED). `callback_body` gives a callback in the family of the task.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

from sideman.tasks.db import TaskStatus
from sideman.tasks.store import Task

__all__ = [
    "callback_body",
    "detail_data",
    "record_info_data",
    "result_url",
    "status_data",
    "suno_status",
    "time_text",
]

SUNO_FAMILY = "suno"
#: milestones in the order a task reaches them (TaskRow.stage holds the last one)
MILESTONES = ("ingest", "analysis", "text", "first", "complete")
_SUNO_CALLBACK_TYPES = {"text": "text", "first": "first", "complete": "complete",
                        "failed": "error"}
_SUNO_MESSAGES = {"text": "Text generation completed.", "first": "First track generated.",
                  "complete": "All generated successfully.", "failed": "Generation failed."}


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
        # ext: the last stage seen and the text-stage briefs, one per variation, as soon
        # as the `text` stage has written them (before any audio exists)
        "stage": task.stage,
        "prompts": _prompts(task),
        # ext: what the analysis heard, how sure it is and the close rival readings
        "analysis": heard_summary(task),
    }


def detail_data(task: Task, *, base_url: str, results_dir: Path | None = None) -> dict:
    """`data` of GET /api/generate/detail/music.

    `files` is empty until the task is finished. With results_dir given, a running
    task's variations whose song file is already on disk are listed too (the `first`
    callback uses that).
    """
    files = _ready_files(task, base_url=base_url, results_dir=results_dir)
    return {
        "task_id": task.id,
        "status": task.status,
        "files": files,
        "created_time": time_text(task),
        "progress": task.progress,
        "error_message": task.error_message,
        # ext: the last stage seen and the text-stage briefs, one per variation, as soon
        # as the `text` stage has written them (before any audio exists)
        "stage": task.stage,
        "prompts": _prompts(task),
        # ext: what the analysis heard, how sure it is and the close rival readings
        "analysis": heard_summary(task),
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
                "chords_url": url(files.get("chords_json")),
                "lead_sheet_url": url(files.get("lead_sheet")),
                "beats": variation.get("beats_seconds", []),
                "downbeats": variation.get("downbeats_seconds", []),
                # second 0 of the audio files on the input's clock (chords and beats use it)
                "offset_seconds": variation.get("offset_seconds", 0.0),
            }
        )
    return out


def _prompts(task: Task) -> list[str]:
    variations = (task.manifest or {}).get("variations") or []
    return [v["prompt"] for v in variations if v.get("prompt")]


def suno_status(task: Task) -> str:
    """The Suno-style status of a task."""
    if task.status == TaskStatus.FINISHED:
        return "SUCCESS"
    if task.status == TaskStatus.FAILED:
        return "GENERATE_AUDIO_FAILED"
    if task.stage in ("first", "complete"):
        return "FIRST_SUCCESS"
    if task.stage == "text":
        return "TEXT_SUCCESS"
    return "PENDING"


def _ready_files(task: Task, *, base_url: str, results_dir: Path | None) -> list[dict]:
    """The variations a client may see: all of a finished task; of a running task, with
    results_dir given, those whose song file is already on disk; none otherwise."""
    if task.status == TaskStatus.FINISHED:
        return _variation_files(task, base_url=base_url, results_dir=None)
    if results_dir is not None and task.status == TaskStatus.RUNNING:
        return _variation_files(task, base_url=base_url, results_dir=results_dir)
    return []


def suno_items(task: Task, *, base_url: str, results_dir: Path | None = None) -> list[dict]:
    """`sunoData`: one entry per variation whose files are ready."""
    files = _ready_files(task, base_url=base_url, results_dir=results_dir)
    return [
        {
            "id": item["audio_id"],
            "audioUrl": item["audio_url"],
            "streamAudioUrl": item["audio_url"],
            "imageUrl": item["image_url"],
            "prompt": item["prompt"],
            "modelName": item["model"],
            "title": item["title"],
            "tags": item["tags"],
            "createTime": time_text(task),
            "duration": item["duration"],
            # ext
            "instrumentalUrl": item["instrumental_url"],
            "wavUrl": item["wav_url"],
            "midiUrl": item["midi_url"],
            "bpm": item["bpm"],
            "key": item["key"],
        }
        for item in files
    ]


def record_info_data(task: Task, *, base_url: str) -> dict:
    """`data` of GET /api/v1/generate/record-info."""
    status = suno_status(task)
    failed = task.status == TaskStatus.FAILED
    return {
        "taskId": task.id,
        "param": json.dumps(task.request.get("param") or task.request.get("input", {}),
                            separators=(",", ":")),
        "response": {"taskId": task.id,
                     "sunoData": suno_items(task, base_url=base_url)},
        "status": status,
        "type": "ADD_INSTRUMENTAL",
        "errorCode": (500 if task.error_message and task.error_message.startswith(
            "generation failed because of an internal error") else 400) if failed else None,
        "errorMessage": task.error_message if failed else None,
        # ext
        "progress": task.progress,
        "createTime": time_text(task),
    }


#: the analysis fields a callback carries (ext): what was heard, how sure, and the close
#: rival readings a singer may pick instead (the notes and chords stay in the detail)
HEARD_FIELDS = ("tempo_bpm", "meter", "key", "tuning_cents", "confidence", "alternatives")


def heard_summary(task: Task) -> dict | None:
    """What the analysis heard, for the callbacks from the text stage on (ext)."""
    analysis = (task.manifest or {}).get("analysis")
    if not analysis:
        return None
    return {field: analysis[field] for field in HEARD_FIELDS if field in analysis}


def callback_body(task: Task, callback_type: str, *, results_dir: Path | None) -> dict:
    """The body POSTed at a stage: the detail body plus `data.callback_type` for vidgo
    tasks; ``{"code","msg","data":{"callbackType","task_id","data":[...]}}`` for
    Suno-style ones. callback_type: "text" | "first" | "complete" | "failed"."""
    base_url = task.request.get("base_url", "")
    if task.family == SUNO_FAMILY:
        failed = callback_type == "failed"
        return {
            "code": (500 if failed else 200),
            "msg": (task.error_message or _SUNO_MESSAGES["failed"]) if failed
            else _SUNO_MESSAGES[callback_type],
            "data": {"callbackType": _SUNO_CALLBACK_TYPES[callback_type], "task_id": task.id,
                     "data": suno_items(task, base_url=base_url, results_dir=results_dir),
                     "analysis": heard_summary(task)},  # ext
        }
    data = detail_data(task, base_url=base_url, results_dir=results_dir)
    data["callback_type"] = callback_type
    return {"code": 200, "data": data}
