"""Database settings as the environment sets them: persistent PostgreSQL connections."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def database_settings(**env: str) -> dict:
    code = (
        "import json; from comfyvn_site import settings; "
        "d = settings.DATABASES['default']; "
        "print(json.dumps({k: d.get(k) for k in "
        "('ENGINE', 'CONN_MAX_AGE', 'CONN_HEALTH_CHECKS')}))"
    )
    clean = {k: v for k, v in os.environ.items() if k not in ("DB_CONN_MAX_AGE",)}
    run = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(run.stdout)


def test_postgresql_keeps_connections_and_checks_them():
    url = "postgres://u@127.0.0.1:5432/x"
    assert database_settings(DATABASE_URL=url) == {
        "ENGINE": "django.db.backends.postgresql",
        "CONN_MAX_AGE": 600,
        "CONN_HEALTH_CHECKS": True,
    }
    assert database_settings(DATABASE_URL=url, DB_CONN_MAX_AGE="0")["CONN_MAX_AGE"] == 0
    tuned = database_settings(
        DATABASE_URL=url + "?conn_max_age=30&conn_health_checks=false"
    )
    assert tuned["CONN_MAX_AGE"] == 30 and tuned["CONN_HEALTH_CHECKS"] is False


def test_sqlite_opens_its_file_per_request(tmp_path):
    db = database_settings(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["CONN_MAX_AGE"] is None  # Django's default: closed after each request
