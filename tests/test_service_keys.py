"""Key management as the CLI sees it: `sideman keys create|list|revoke`, and the
functions behind it (create_key -> (key, whsec), list_keys, revoke_key)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sideman.api import create_app
from sideman.cli import main
from sideman.settings import Settings
from sideman.tasks import create_key, hash_key, list_keys, revoke_key
from sideman.tasks.testing import fake_generate


def test_create_list_revoke_functions(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data")
    key, whsec = create_key(settings, name="mobile app")
    assert key.startswith("sm_") and whsec.startswith("whsec_")
    (info,) = list_keys(settings)
    assert info.name == "mobile app" and info.key_hash == hash_key(key)
    with TestClient(create_app(settings, generate=fake_generate)) as client:
        services = client.app.state.services
        assert services.keys.verify(key) == hash_key(key)
        assert services.keys.webhook_secret(hash_key(key)) == whsec
        assert services.local_key is None  # a key exists: no local key is made
        headers = {"Authorization": f"Bearer {key}"}
        assert client.get("/api/generate/status/" + "0" * 32, headers=headers).status_code == 404
        assert revoke_key(settings, info.id)
        assert client.get("/api/generate/status/" + "0" * 32, headers=headers).status_code == 401
    assert not revoke_key(settings, info.id)
    assert list_keys(settings) == []
    assert [k.id for k in list_keys(settings, include_revoked=True)] == [info.id]


def test_cli_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = str(tmp_path / "data")
    assert main(["keys", "--data-dir", data_dir, "create", "--name", "ci", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["key"].startswith("sm_") and created["webhook_secret"].startswith("whsec_")
    assert main(["keys", "--data-dir", data_dir, "create", "--name", "other"]) == 0
    shown = capsys.readouterr().out
    assert "API key:" in shown and "webhook secret: whsec_" in shown
    assert main(["keys", "--data-dir", data_dir, "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [k["name"] for k in listed] == ["ci", "other"]
    assert all("key" not in k and "webhook_secret" not in k for k in listed)
    assert main(["keys", "--data-dir", data_dir, "revoke", listed[0]["id"]]) == 0
    assert main(["keys", "--data-dir", data_dir, "revoke", listed[0]["id"]]) == 1
    capsys.readouterr()
    assert main(["keys", "--data-dir", data_dir, "list"]) == 0
    table = capsys.readouterr().out
    assert "other" in table and "ci" not in table
    assert main(["keys", "--data-dir", data_dir, "list", "--all"]) == 0
    assert "revoked" in capsys.readouterr().out


def test_a_database_from_before_webhook_secrets_is_upgraded(tmp_path: Path) -> None:
    import sqlite3

    from sideman.tasks import KeyStore, open_database

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.execute("CREATE TABLE api_keys (id VARCHAR(32) PRIMARY KEY, key_hash VARCHAR(64) "
                    "UNIQUE, name VARCHAR(100), created_at DATETIME, revoked_at DATETIME)")
        old.execute("INSERT INTO api_keys VALUES ('k1', ?, 'old', '2025-01-01 00:00:00', NULL)",
                    (hash_key("sm_old"),))
    db = open_database(f"sqlite:///{path}")
    keys = KeyStore(db)
    assert keys.verify("sm_old") == hash_key("sm_old")
    secret = keys.webhook_secret(hash_key("sm_old"))
    assert secret.startswith("whsec_") and keys.webhook_secret(hash_key("sm_old")) == secret
    db.dispose()
