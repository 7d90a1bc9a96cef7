"""The vidgo file endpoints (audio only): stream, base64 and URL uploads.

Each stores one file as ``uploads_dir/<file_id><ext>``; file_id is 128 random bits and
the returned `file_url` is a valid `upload_url` (the submit route resolves it to the
stored file without any HTTP). Not audio (by its first bytes, or failing that its
declared type) is 415; over settings.max_upload_bytes is 413 (the body-size middleware
refuses larger request bodies before they are read). Each file gets an `uploads` row
with its expiry; the retention clean-up removes both. The type the bytes announce wins
over the client's file name: a WAV named `.MP3` is stored and served as a WAV.

No room (the disk under settings.min_free_disk_bytes, or the key's quota used up, or
the disk filling up mid-write): 507 with a message. `/url` downloads on the download
pool, never on a request thread: the route awaits the pool's future, and a key with
settings.fetch_per_key_concurrency downloads already running gets 429.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import secrets
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Annotated, BinaryIO

from fastapi import APIRouter, File, UploadFile
from starlette.concurrency import run_in_threadpool

from sideman.api import responses as R
from sideman.api.admission import admit
from sideman.api.deps import BaseUrlDep, Caller, CallerDep, Services, ServicesDep
from sideman.api.errors import ApiError, error_responses
from sideman.api.responses import documented
from sideman.api.schemas import Base64Upload, UrlUpload
from sideman.errors import FetchError, UnreadableAudio
from sideman.ingest.fetch import check_url_literal, fetch_to_file, sniff_audio
from sideman.ingest.pool import PoolBusy
from sideman.storage import TooLarge
from sideman.storage.space import is_disk_full
from sideman.tasks.db import UploadRow, utcnow

log = logging.getLogger(__name__)

__all__ = ["router", "sniff_audio"]

router = APIRouter(prefix="/api/common/upload", tags=["uploads"],
                   responses=error_responses(400, 401, 413, 415, 422, 429, 500, 507))

_CHUNK_BYTES = 1 << 20
_EXTENSIONS = {
    "audio/wav": ".wav", "audio/mpeg": ".mp3", "audio/aac": ".aac", "audio/ogg": ".ogg",
    "audio/flac": ".flac", "audio/mp4": ".m4a", "audio/webm": ".webm", "audio/aiff": ".aiff",
    "audio/x-ms-wma": ".wma",
}
_DECLARED = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".aac": "audio/aac", ".ogg": "audio/ogg",
             ".oga": "audio/ogg", ".opus": "audio/ogg", ".flac": "audio/flac", ".m4a": "audio/mp4",
             ".webm": "audio/webm", ".aif": "audio/aiff", ".aiff": "audio/aiff"}


@router.post("/stream", summary="Upload an audio file (multipart field `file`)",
             response_model=None, responses=documented(R.UploadResponse))
def upload_stream(file: Annotated[UploadFile, File()], caller: CallerDep,
                  services: ServicesDep, base_url: BaseUrlDep) -> dict:
    admit(services, caller)
    return _store(_chunks(file.file), original_name=file.filename or "upload",
                  declared_type=file.content_type, caller=caller, services=services,
                  base_url=base_url)


@router.post("/base64", summary="Upload audio as base64 (or a data: URL)",
             response_model=None, responses=documented(R.UploadResponse))
def upload_base64(body: Base64Upload, caller: CallerDep, services: ServicesDep,
                  base_url: BaseUrlDep) -> dict:
    admit(services, caller)
    text = body.base64_data.strip()
    declared_type = None
    if text.startswith("data:"):
        header, _, text = text.partition(",")
        declared_type = header[5:].split(";", 1)[0] or None
    limit = services.settings.max_upload_bytes
    if len(text) * 3 // 4 > limit + 3:
        raise ApiError(413, f"the file is larger than the {limit} byte limit", param="base64_data")
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(422, "base64_data is not valid base64", param="base64_data") from exc
    return _store(iter([data]), original_name=body.file_name or "upload",
                  declared_type=declared_type, caller=caller, services=services,
                  base_url=base_url)


@router.post("/url", summary="Copy audio from a URL into sideman's storage",
             response_model=None, responses=documented(R.UploadResponse))
async def upload_url(body: UrlUpload, caller: CallerDep, services: ServicesDep,
                     base_url: BaseUrlDep) -> dict:
    await run_in_threadpool(admit, services, caller)
    settings = services.settings
    try:
        check_url_literal(body.file_url, allow_private=settings.allow_private_urls,
                          what="file_url")
    except FetchError as exc:
        raise ApiError(422, str(exc), param="file_url") from exc

    def download() -> dict:
        return _download_and_store(body, caller=caller, services=services, base_url=base_url)

    if services.downloads is None:
        return await run_in_threadpool(download)
    limit = settings.fetch_per_key_concurrency
    try:
        future = services.downloads.submit(caller.key_hash, download, max_waiting_per_key=limit)
    except PoolBusy as exc:
        raise ApiError(429, f"this key already has {limit} downloads running; at most {limit} "
                            "at once, retry when one is done", param="file_url",
                       headers={"Retry-After": "5"}) from exc
    return await asyncio.wrap_future(future)


def _download_and_store(body: UrlUpload, *, caller: Caller, services: Services,
                        base_url: str) -> dict:
    settings = services.settings
    with tempfile.TemporaryDirectory(dir=settings.data_dir) as scratch:
        try:
            path = fetch_to_file(body.file_url, dest_dir=Path(scratch),
                                 max_bytes=settings.max_upload_bytes,
                                 timeout_seconds=settings.fetch_timeout_seconds,
                                 deadline_seconds=settings.fetch_deadline_seconds,
                                 min_bytes_per_second=settings.fetch_min_bytes_per_second,
                                 rate_window_seconds=settings.fetch_rate_window_seconds,
                                 allow_private=settings.allow_private_urls, what="file_url",
                                 max_redirects=settings.fetch_max_redirects)
        except UnreadableAudio as exc:
            raise ApiError(415, str(exc), param="file_url") from exc
        except FetchError as exc:
            raise ApiError(422, str(exc), param="file_url") from exc
        except OSError as exc:
            if is_disk_full(exc):
                raise ApiError(507, "the server ran out of disk space while downloading "
                                    "file_url; try again later", param="file_url") from exc
            raise
        name = body.file_name or PurePosixPath(body.file_url.split("?", 1)[0]).name or "upload"
        with open(path, "rb") as handle:
            return _store(_chunks(handle), original_name=name, declared_type=None,
                          caller=caller, services=services, base_url=base_url)


def _store(chunks: Iterator[bytes], *, original_name: str, declared_type: str | None,
           caller: Caller, services: Services, base_url: str) -> dict:
    first = next(chunks, b"")
    if not first:
        raise ApiError(422, "the file is empty", param="file")
    sniffed = sniff_audio(first)
    mime_type = sniffed or _declared_audio(declared_type)
    if mime_type is None:
        raise ApiError(415, "the file is not audio (wav, mp3, flac, ogg, m4a, webm, aiff)",
                       param="file")
    file_id = secrets.token_hex(16)
    suffix = PurePosixPath(original_name).suffix.lower()
    if sniffed is not None:  # the bytes win over the client's name
        extension = _EXTENSIONS.get(sniffed, ".bin")
    else:
        extension = suffix if suffix in _DECLARED else _EXTENSIONS.get(mime_type, ".bin")
    file_name = f"{file_id}{extension}"
    limit = services.settings.max_upload_bytes
    try:
        size = services.uploads.write(file_name, _prepend(first, chunks), max_bytes=limit)
    except TooLarge as exc:
        raise ApiError(413, f"the file is larger than the {limit} byte limit", param="file") from exc
    except OSError as exc:
        if is_disk_full(exc):  # the partial file is gone already (LocalBlobStore.write)
            raise ApiError(507, "the server ran out of disk space while storing the file; "
                                "try again later", param="file") from exc
        raise
    now = utcnow()
    expires = now + timedelta(hours=services.settings.upload_retention_hours)
    try:
        with services.db.sessions.begin() as session:
            session.add(UploadRow(file_name=file_name, owner_key_hash=caller.key_hash,
                                  size_bytes=size, mime_type=mime_type, created_at=now,
                                  expires_at=expires))
    except Exception as exc:
        services.uploads.delete(file_name)  # no row, no file: nothing is left behind
        if is_disk_full(exc):
            raise ApiError(507, "the server ran out of disk space while recording the "
                                "file; try again later", param="file") from exc
        raise
    file_url = f"{base_url}/files/uploads/{file_name}"
    log.info("stored upload %s (%d bytes, %s)", file_name, size, mime_type)
    return {
        "success": True,
        "code": 200,
        "msg": "File uploaded successfully",
        "data": {
            "file_id": file_id,
            "file_name": file_name,
            "original_name": original_name,
            "file_size": size,
            "mime_type": mime_type,
            "file_url": file_url,
            "download_url": f"{file_url}?download=1",
            "upload_time": now.isoformat(timespec="seconds"),
            "expires_at": expires.isoformat(timespec="seconds"),
        },
    }


def _declared_audio(declared_type: str | None) -> str | None:
    if declared_type and declared_type.startswith("audio/"):
        return declared_type
    return None


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    while chunk := handle.read(_CHUNK_BYTES):
        yield chunk


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest

