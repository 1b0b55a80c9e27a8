"""The operator commands, run as real processes: migrate, user create, user set-tier."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from starlette.testclient import TestClient

from serika.app import create_app
from tests.conftest import fast_settings


def _serika(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "serika", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_user_create_and_set_tier(tmp_path: Path, database_url: str) -> None:
    env = {
        **os.environ,
        "SERIKA_DATABASE_URL": database_url,
        "SERIKA_DATA_DIR": str(tmp_path / "data"),
        "SERIKA_PASSWORD_MEMORY_KIB": "1024",
    }
    assert _serika("migrate", env=env).returncode == 0  # idempotent on a migrated database
    made = _serika(
        "user",
        "create",
        "--email",
        "Ops@Example.com",
        "--username",
        "ops",
        env=env,
        stdin="a long operator password\n",
    )
    assert made.returncode == 0, made.stderr
    assert "ops@example.com" in made.stdout and "free" in made.stdout
    again = _serika(
        "user",
        "create",
        "--email",
        "ops@example.com",
        "--username",
        "ops2",
        "--password",
        "another password",
        env=env,
    )
    assert again.returncode == 1 and "already registered" in again.stderr
    moved = _serika("user", "set-tier", "ops@example.com", "premium", env=env)
    assert moved.returncode == 0 and "premium" in moved.stdout
    missing = _serika("user", "set-tier", "nobody@example.com", "premium", env=env)
    assert missing.returncode == 1 and "no user" in missing.stderr

    settings = fast_settings(tmp_path / "data", database_url, password_memory_kib=1024)
    with TestClient(create_app(settings)) as client:
        r = client.post(
            "/api/auth/login",
            json={"email": "ops@example.com", "password": "a long operator password"},
        )
        assert r.status_code == 200
        assert r.json()["user"]["tier"] == "premium"


def test_migrate_creates_a_fresh_sqlite_database(tmp_path: Path) -> None:
    env = {**os.environ, "SERIKA_DATA_DIR": str(tmp_path / "fresh")}
    env.pop("SERIKA_DATABASE_URL", None)
    result = _serika("migrate", env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "fresh" / "serika.db").stat().st_size > 0


def test_bad_settings_are_a_clear_error(tmp_path: Path) -> None:
    env = {**os.environ, "SERIKA_PORT": "eighty", "SERIKA_DATA_DIR": str(tmp_path)}
    result = _serika("migrate", env=env)
    assert result.returncode == 2
    assert "configuration error" in result.stderr and "Traceback" not in result.stderr
