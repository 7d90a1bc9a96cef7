"""A shared folder (NFS, SMB, a cluster file system) that every API instance and worker
mounts at the same path: what a worker writes, any API instance serves.

It is the local store, whose writers each stage into a partial file of their own (two
machines writing one key never write into one partial file), with the bytes fsync'd
before the rename, so another machine never sees a renamed but empty file after a crash.
"""

from __future__ import annotations

from sideman.storage import LocalBlobStore

__all__ = ["SharedDirBlobStore"]


class SharedDirBlobStore(LocalBlobStore):
    """Files under `root`, a folder shared by every machine of the deployment."""

    durable = True
