"""Task records on PostgreSQL: Alembic migrations build the schema the models describe
(on SQLite and PostgreSQL alike), the app migrates on start, and the atomic claim holds
under concurrent claimers on PostgreSQL. Skipped without PostgreSQL (failed under CI=true).
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import create_engine, inspect

from scaleout_support import fresh_postgres_database, require_modules


def _schema_diff(url: str) -> list:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from sideman.tasks.db import Base

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


@pytest.fixture()
def postgres_url():
    with fresh_postgres_database() as url:
        yield url


def test_migrations_match_the_models_on_sqlite(tmp_path) -> None:
    require_modules()
    from sideman.tasks.migrations import upgrade_database

    url = f"sqlite:///{tmp_path / 'migrated.db'}"
    upgrade_database(url)
    assert _schema_diff(url) == []


def test_migrations_match_the_models_on_postgres(postgres_url: str) -> None:
    from sideman.tasks.migrations import HEAD_REVISION, prepare_database

    prepare_database(postgres_url)
    prepare_database(postgres_url)  # a second start migrates nothing
    assert _schema_diff(postgres_url) == []
    engine = create_engine(postgres_url)
    with engine.connect() as connection:
        version = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    engine.dispose()
    assert version == HEAD_REVISION


def test_a_create_all_database_is_stamped_then_upgraded(postgres_url: str) -> None:
    from sideman.tasks import open_database
    from sideman.tasks.migrations import prepare_database

    open_database(postgres_url).dispose()  # tables made the old way, no alembic_version
    prepare_database(postgres_url)
    engine = create_engine(postgres_url)
    assert "alembic_version" in inspect(engine).get_table_names()
    engine.dispose()
    assert _schema_diff(postgres_url) == []


def test_one_claim_wins_among_concurrent_workers_on_postgres(postgres_url: str) -> None:
    from sideman.tasks import TaskStore, open_database
    from sideman.tasks.migrations import prepare_database

    prepare_database(postgres_url)
    db = open_database(postgres_url)
    store = TaskStore(db)
    task = store.create(owner_key_hash="owner", request={"input": {}})
    barrier = threading.Barrier(8)
    tokens: list[str | None] = []

    def claim() -> None:
        barrier.wait()
        tokens.append(store.claim(task.id, lease_seconds=30, max_attempts=3))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(token is not None for token in tokens) == 1
    assert store.get(task.id).attempts == 1
    db.dispose()


def test_app_on_postgres_migrates_on_start(postgres_url: str, tmp_path) -> None:
    from fastapi.testclient import TestClient

    from sideman.api.app import create_app
    from sideman.settings import Settings

    settings = Settings(data_dir=tmp_path, database_url=postgres_url, api_key="sk-db-test",
                        pipeline="sideman.tasks.testing:fake_generate")
    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200 and "broker" not in ready.json()
    assert _schema_diff(postgres_url) == []
