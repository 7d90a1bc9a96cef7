"""Generated and uploaded files, served by path under unguessable ids (no key needed,
so `<audio src>` works). Starlette's FileResponse answers Range requests (206) and HEAD.

Range as RFC 9110 section 14 says: a Range header that is not valid (another unit, a
range whose last byte is before its first such as ``bytes=5-2``, text that is no range)
is ignored and the whole file is served (200); a valid range that starts past the end
is 416 with ``Content-Range: bytes */size``.
"""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path, PurePosixPath

from fastapi import APIRouter
from fastapi.responses import FileResponse
from starlette.types import Receive, Scope, Send

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
_RANGE_SPEC = re.compile(r"^(\d+)-(\d*)$|^-(\d+)$")


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
    return RangeCheckedFileResponse(
        path,
        media_type=media_type(path),
        filename=PurePosixPath(key).name if download else None,
        headers={"Cache-Control": _IMMUTABLE, "X-Content-Type-Options": "nosniff"},
    )


class RangeCheckedFileResponse(FileResponse):
    """FileResponse that ignores an invalid Range header (RFC 9110 14.2) instead of
    answering 400."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = scope.get("headers") or []
        ranges = [value for name, value in headers if name.lower() == b"range"]
        if ranges and not valid_range(ranges[0].decode("latin-1")):
            scope = dict(scope, headers=[(n, v) for n, v in headers if n.lower() != b"range"])
        await super().__call__(scope, receive, send)


def valid_range(header: str) -> bool:
    """True for a syntactically valid `bytes=` ranges-specifier (RFC 9110 14.1.2): every
    spec is ``first-``, ``first-last`` with last >= first, or ``-suffix``."""
    unit, sep, specs = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return False
    parts = [part.strip() for part in specs.split(",")]
    if not parts or len(parts) > 100:
        return False
    for part in parts:
        match = _RANGE_SPEC.match(part)
        if match is None:
            return False
        first, last = match.group(1), match.group(2)
        if first is not None and last and int(last) < int(first):
            return False
    return True
