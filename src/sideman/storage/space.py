"""Disk space: admission control and recognising a full disk.

The service refuses new work (uploads and submits: HTTP 507) while the data folder's disk
has less than `settings.min_free_disk_bytes` free, and `/readyz` answers 503, so a load
balancer stops sending work before a task dies half-written. One task writes about
1.5 MB per second of song per variation (stems, mixes, MP3s): a 3-minute song with 2
variations about 0.55 GB, an 8-minute one with 4 about 2.9 GB. The 1 GiB default keeps
room for the common case; raise it where long songs with many variations are usual.

`is_disk_full(exc)` recognises the ways a full disk shows itself: ENOSPC / EDQUOT from
the OS, and SQLite's "database or disk is full" through SQLAlchemy.

    >>> free = free_bytes(Path("."))
    >>> free > 0
    True
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from sideman.errors import InsufficientStorage

__all__ = ["check_free_space", "disk_full_message", "folder_bytes", "free_bytes", "is_disk_full"]

_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


def free_bytes(path: Path) -> int:
    """Bytes free for an unprivileged writer on the disk that holds `path` (its nearest
    existing parent)."""
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def check_free_space(path: Path, *, min_free_bytes: int) -> None:
    """Raise InsufficientStorage when the disk of `path` has less than `min_free_bytes`
    free (0 turns the check off)."""
    if min_free_bytes <= 0:
        return
    free = free_bytes(path)
    if free < min_free_bytes:
        raise InsufficientStorage(
            f"the server is short of disk space ({_mib(free)} free, at least "
            f"{_mib(min_free_bytes)} needed to take new work); try again later"
        )


def is_disk_full(exc: BaseException) -> bool:
    """True when `exc` (or what it was raised from) says the disk or the quota is full."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _FULL_ERRNOS:
            return True
        text = str(current).lower()
        if "database or disk is full" in text or "no space left on device" in text:
            return True
        current = current.__cause__ or current.__context__ or getattr(current, "orig", None)
    return False


def disk_full_message() -> str:
    return ("the server ran out of disk space while writing the results; the partial "
            "files were removed; try again later")


def folder_bytes(path: Path) -> int:
    """Bytes of the files under `path` (0 when it does not exist); links are not followed."""
    total = 0
    stack = [Path(path)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return total


def _mib(count: int) -> str:
    return f"{count / 1024**2:.0f} MiB"
