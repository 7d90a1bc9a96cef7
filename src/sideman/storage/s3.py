"""An S3-compatible bucket (AWS S3, MinIO, Ceph, moto) behind the BlobStore protocol.

The bucket is the truth; a local folder is a cache. `write` stores the bytes in the
cache and puts the object; `path(key)` returns the cached file, downloading it first if
this machine has not seen it (so FileResponse and the pipeline, which need a real file,
work on any machine); `delete` removes the object(s) under a key and the cached copy.
`publish_dir` uploads a finished result folder (the worker calls it before the task is
marked finished, so a finished task's files are always in the bucket).

Needs boto3 (the `scale` extra); imported only when settings.storage_backend is "s3".

    >>> store = S3BlobStore(cache_dir=Path("var/results"), bucket="sideman",
    ...                     prefix="results/", client=boto3.client("s3"))  # doctest: +SKIP
"""

from __future__ import annotations

import io
import logging
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from sideman.storage import LocalBlobStore

log = logging.getLogger(__name__)

__all__ = ["S3BlobStore", "s3_client"]


def s3_client(*, endpoint_url: str | None, region: str, access_key_id: str | None,
              secret_access_key: str | None):  # noqa: ANN201 - a boto3 S3 client
    """A boto3 S3 client (path-style addressing, which MinIO and moto want)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3", endpoint_url=endpoint_url, region_name=region,
        aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5,
                                                                 "mode": "standard"}),
    )


class S3BlobStore:
    """Objects `<prefix><key>` in `bucket`, cached under `cache_dir`."""

    def __init__(self, *, cache_dir: Path, bucket: str, prefix: str = "", client) -> None:  # noqa: ANN001
        self._cache = LocalBlobStore(cache_dir)
        self.root = self._cache.root
        self.bucket = bucket
        self.prefix = prefix
        self.client = client

    def path(self, key: str) -> Path:
        local = self._cache.path(key)  # validates the key (KeyError)
        if not local.is_file():
            self._download(key, local)
        return local

    def exists(self, key: str) -> bool:
        try:
            self._cache.path(key)
        except KeyError:
            return False
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._object(key))
            return True
        except ClientError:
            return False

    def write(self, key: str, chunks: Iterable[bytes], *, max_bytes: int | None = None) -> int:
        local = self._cache.path(key)
        written = self._cache.write(key, chunks, max_bytes=max_bytes)
        self.client.upload_file(str(local), self.bucket, self._object(key))
        return written

    def delete(self, key: str) -> None:
        self._cache.delete(key)
        prefix = self._object(key)
        keys = [prefix]
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix.rstrip("/") + "/"):
            keys += [item["Key"] for item in page.get("Contents", [])]
        for start in range(0, len(keys), 1000):
            self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": k} for k in keys[start:start + 1000]], "Quiet": True},
            )

    def publish_dir(self, key: str, folder: Path) -> int:
        """Replace everything under `key` with the files of `folder` (hidden files
        skipped); returns the number of files uploaded."""
        self.delete_remote(key)
        count = 0
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or path.name.startswith("."):
                continue
            relative = path.relative_to(folder).as_posix()
            self.client.upload_file(str(path), self.bucket, self._object(f"{key}/{relative}"))
            count += 1
        return count

    def delete_remote(self, key: str) -> None:
        """Remove the objects under `key` in the bucket, leaving the cache alone."""
        prefix = self._object(key).rstrip("/") + "/"
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            items = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if items:
                self.client.delete_objects(Bucket=self.bucket,
                                           Delete={"Objects": items, "Quiet": True})

    def read_bytes(self, key: str) -> bytes:
        """The object's bytes, straight from the bucket."""
        buffer = io.BytesIO()
        self.client.download_fileobj(self.bucket, self._object(key), buffer)
        return buffer.getvalue()

    def _object(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def _download(self, key: str, local: Path) -> None:
        from botocore.exceptions import ClientError

        local.parent.mkdir(parents=True, exist_ok=True)
        partial = local.with_name(f".{local.name}.{secrets.token_hex(6)}.partial")
        try:
            self.client.download_file(self.bucket, self._object(key), str(partial))
            os.replace(partial, local)
        except ClientError:
            pass  # not in the bucket: path() returns a path that does not exist
        finally:
            partial.unlink(missing_ok=True)

