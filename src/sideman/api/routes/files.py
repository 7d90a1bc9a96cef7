"""Generated and uploaded files, served by path under unguessable ids (no key needed,
so `<audio src>` works). Starlette's FileResponse answers Range requests (206) and HEAD.
"""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path, PurePosixPath

from fastapi import APIRouter
from fastapi.responses import FileResponse

from sideman.api.deps import ServicesDep
from sideman.api.errors import ApiError, error_responses
from sideman.storage import LocalBlobStore

__all__ = ["media_type", "router"]

router = APIRouter(prefix="/files", tags=["files"], responses=error_responses(404))

_TASK_ID = re.compile(r"^[0-9a-f]{32}$")
_TYPES = {
    ".mp3": "audio/mpeg", ".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg",
    ".m4a": "audio/mp4", ".aac": "audio/aac", ".webm": "audio/webm", ".aiff": "audio/aiff",
    ".mid": "audio/midi", ".midi": "audio/midi", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
    ".png": "image/png", ".json": "application/json", ".txt": "text/plain; charset=utf-8",
}
_IMMUTABLE = "private, max-age=86400"


@router.head("/results/{task_id}/{file_path:path}", include_in_schema=False)
@router.get("/results/{task_id}/{file_path:path}", summary="A generated file")
def result_file(task_id: str, file_path: str, services: ServicesDep,
                download: bool = False) -> FileResponse:
    if not _TASK_ID.match(task_id):
        raise ApiError(404, "file not found")
    return _serve(services.results, f"{task_id}/{file_path}", download=download)


@router.head("/uploads/{file_name}", include_in_schema=False)
@router.get("/uploads/{file_name}", summary="An uploaded file")
def upload_file(file_name: str, services: ServicesDep, download: bool = False) -> FileResponse:
    return _serve(services.uploads, file_name, download=download)


def media_type(path: Path) -> str:
    return _TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or \
        "application/octet-stream"


def _serve(store: LocalBlobStore, key: str, *, download: bool) -> FileResponse:
    try:
        path = store.path(key)
    except KeyError:
        path = None
    if path is None or not path.is_file() or path.name.startswith("."):
        raise ApiError(404, "file not found")
    return FileResponse(
        path,
        media_type=media_type(path),
        filename=PurePosixPath(key).name if download else None,
        headers={"Cache-Control": _IMMUTABLE, "X-Content-Type-Options": "nosniff"},
    )
