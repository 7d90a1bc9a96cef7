"""Where files live: a small `BlobStore` protocol and the local-filesystem store.

Keys are relative POSIX paths (``"<task_id>/v1/song.mp3"``). A store never lets a key
escape its root: ``..``, absolute paths and back-slashes are refused with ``KeyError``.
The service hands out URLs for keys; only the local store also gives a real path (the
pipeline and FileResponse need one). Object stores (S3 and the like) come later behind
the same protocol.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Protocol, runtime_checkable

__all__ = ["BlobStore", "LocalBlobStore", "TooLarge"]


class TooLarge(Exception):
    """A write went over its byte limit (the partial file is removed)."""

    def __init__(self, *, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        super().__init__(f"the file is larger than the {limit_bytes} byte limit")


@runtime_checkable
class BlobStore(Protocol):
    """The operations the service needs from file storage."""

    def path(self, key: str) -> Path:
        """The local path of `key` (it need not exist). Raises KeyError for a bad key."""
        ...

    def exists(self, key: str) -> bool: ...

    def write(self, key: str, chunks: Iterable[bytes], *, max_bytes: int | None = None) -> int:
        """Write `chunks` to `key` atomically; returns the byte count. Raises TooLarge."""
        ...

    def delete(self, key: str) -> None:
        """Remove a file or a whole folder; a missing key is not an error."""
        ...


class LocalBlobStore:
    """Files under one root folder on the local disk."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        if not key or "\\" in key or "\x00" in key:
            raise KeyError(key)
        parts = PurePosixPath(key).parts
        if not parts or parts[0] == "/" or any(p in ("..", ".", "") for p in parts):
            raise KeyError(key)
        candidate = self.root.joinpath(*parts)
        if not candidate.resolve().is_relative_to(self.root):  # a symlink pointing out
            raise KeyError(key)
        return candidate

    def exists(self, key: str) -> bool:
        try:
            return self.path(key).is_file()
        except KeyError:
            return False

    #: fsync the bytes before the rename (a folder other machines read needs it)
    durable = False

    def write(self, key: str, chunks: Iterable[bytes], *, max_bytes: int | None = None) -> int:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # a partial file of this writer's own: two writers of one key never mix their bytes
        partial = target.with_name(f".{target.name}.{secrets.token_hex(8)}.partial")
        written = 0
        try:
            with open(partial, "wb") as handle:
                for chunk in chunks:
                    written += len(chunk)
                    if max_bytes is not None and written > max_bytes:
                        raise TooLarge(limit_bytes=max_bytes)
                    handle.write(chunk)
                if self.durable:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        return written

    def delete(self, key: str) -> None:
        target = self.path(key)
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)
