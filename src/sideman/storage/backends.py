"""Pick the blob stores from settings (`storage_backend`: local, shared or s3), and the
generate wrapper that publishes a worker's results before the task is marked finished.

    local   uploads and results under data_dir (the embedded default)
    shared  under data_dir, which every machine mounts at the same path (NFS and the
            like; SharedDirBlobStore). The pipeline writes results straight into it.
    s3      in `s3_bucket` (keys `<s3_prefix>uploads/...`, `<s3_prefix>results/...`),
            cached under data_dir (S3BlobStore; boto3 imported only here)

Unknown backends are refused at startup (ValueError).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sideman.settings import Settings
from sideman.storage import LocalBlobStore

__all__ = ["BACKENDS", "build_blob_stores", "publishing"]

BACKENDS = ("local", "shared", "s3")


def build_blob_stores(settings: Settings):  # noqa: ANN201 - (uploads, results) BlobStores
    """(uploads, results) for settings.storage_backend. Raises ValueError for an unknown
    backend or a missing setting."""
    backend = settings.storage_backend
    if backend == "local":
        return LocalBlobStore(settings.uploads_dir), LocalBlobStore(settings.results_dir)
    if backend == "shared":
        from sideman.storage.shared import SharedDirBlobStore

        return SharedDirBlobStore(settings.uploads_dir), SharedDirBlobStore(settings.results_dir)
    if backend == "s3":
        from sideman.storage.s3 import S3BlobStore, s3_client

        if not settings.s3_bucket:
            raise ValueError("storage_backend=s3 needs s3_bucket (SIDEMAN_S3_BUCKET)")
        client = s3_client(endpoint_url=settings.s3_endpoint_url, region=settings.s3_region,
                           access_key_id=settings.s3_access_key_id,
                           secret_access_key=settings.s3_secret_access_key)
        return (
            S3BlobStore(cache_dir=settings.uploads_dir, bucket=settings.s3_bucket,
                        prefix=f"{settings.s3_prefix}uploads/", client=client),
            S3BlobStore(cache_dir=settings.results_dir, bucket=settings.s3_bucket,
                        prefix=f"{settings.s3_prefix}results/", client=client),
        )
    raise ValueError(f"storage_backend must be one of {', '.join(BACKENDS)}; got {backend!r}")


def publishing(generate: Callable[..., dict], results) -> Callable[..., dict]:  # noqa: ANN001
    """`generate`, then the result folder published to `results` when that store keeps
    files elsewhere (S3): the upload happens before TaskRunner marks the task finished.
    A shared folder needs nothing more: `out_dir` is inside it already."""
    publish = getattr(results, "publish_dir", None)
    if publish is None:
        return generate

    def generate_and_publish(request, *, out_dir: Path, **kwargs) -> dict:  # noqa: ANN001
        manifest = generate(request, out_dir=out_dir, **kwargs)
        publish(out_dir.name, out_dir)
        return manifest

    return generate_and_publish
