"""Shared pieces of the scale-out tests: reaching the real Redis and PostgreSQL (skip
with a reason when they are away, fail when CI=true), a fresh database and Redis
namespace per run, and a small cluster of `sideman worker` processes."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CI = os.environ.get("CI", "").strip().lower() == "true"
REDIS_URL = os.environ.get("SIDEMAN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get("SIDEMAN_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
START_HINT = ("start them with the commands in README 'Scale-out' (redis-server ...; "
              "pg_ctlcluster ... main start)")


def unavailable(what: str, error: object) -> None:
    """Skip (a machine without the server) or, under CI=true, fail."""
    message = f"{what} is not reachable ({error}); {START_HINT}"
    if CI:
        pytest.fail(f"CI=true and {message}")
    pytest.skip(message)


def require_modules() -> None:
    try:
        import alembic  # noqa: F401
        import dramatiq  # noqa: F401
        import psycopg  # noqa: F401
        import redis  # noqa: F401
    except ImportError as exc:
        if CI:
            pytest.fail(f"CI=true and the scale extra is not installed: {exc}")
        pytest.skip(f"the scale extra is not installed ({exc}): pip install -e '.[scale]'")


def redis_client():  # noqa: ANN201
    require_modules()
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:
        unavailable(f"Redis at {REDIS_URL}", exc)
    return client


@contextmanager
def fresh_redis_namespace() -> Iterator[str]:
    client = redis_client()
    namespace = f"sideman-test-{secrets.token_hex(6)}"
    try:
        yield namespace
    finally:
        keys = list(client.scan_iter(f"{namespace}:*", count=1000))
        if keys:
            client.delete(*keys)


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty database for this run (dropped afterwards)."""
    require_modules()
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT",
                          connect_args={"connect_timeout": 3})
    name = f"sideman_test_{secrets.token_hex(6)}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        unavailable(f"PostgreSQL at {POSTGRES_URL}", exc)
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Cluster:
    """`sideman worker` supervisors (each runs a Dramatiq group of `processes`)."""

    def __init__(self, env: dict[str, str], *, log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.supervisors: list[subprocess.Popen] = []

    def start_group(self, *, processes: int = 1, pin_cpus: bool = False) -> subprocess.Popen:
        index = len(self.supervisors)
        log = open(self.log_dir / f"worker-{index}.log", "ab")  # noqa: SIM115 - closed by the OS
        proc = subprocess.Popen(
            [sys.executable, "-m", "sideman.cli", "worker", "--processes", str(processes),
             *(["--pin-cpus"] if pin_cpus else [])],
            env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.supervisors.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.supervisors:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.supervisors:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:]
                         for p in sorted(self.log_dir.glob("worker-*.log")))


def wait_for(predicate, *, timeout_seconds: float, interval_seconds: float = 0.1,  # noqa: ANN001
             what: str = "condition"):  # noqa: ANN201
    deadline = time.monotonic() + timeout_seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_seconds} s waiting for {what}")
        time.sleep(interval_seconds)
