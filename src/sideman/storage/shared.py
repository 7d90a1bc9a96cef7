"""A shared folder (NFS, SMB, a cluster file system) that every API instance and worker
mounts at the same path: what a worker writes, any API instance serves.

It is the local store with two things a shared folder needs: each writer stages into a
partial file of its own (two machines writing one key never write into one partial
file), and the bytes are fsync'd before the rename, so another machine never sees a
renamed but empty file after a crash.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from sideman.storage import LocalBlobStore, TooLarge

__all__ = ["SharedDirBlobStore"]


class SharedDirBlobStore(LocalBlobStore):
    """Files under `root`, a folder shared by every machine of the deployment."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)

    def write(self, key: str, chunks: Iterable[bytes], *, max_bytes: int | None = None) -> int:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{secrets.token_hex(8)}.partial")
        written = 0
        try:
            with open(partial, "wb") as handle:
                for chunk in chunks:
                    written += len(chunk)
                    if max_bytes is not None and written > max_bytes:
                        raise TooLarge(limit_bytes=max_bytes)
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        return written
