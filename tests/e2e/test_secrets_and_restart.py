"""What survives the server process, and what must never leave it.

- Secrets: key secrets, session tokens and passwords appear in no log line, no database row
  (on SQLite: no byte of the database files, WAL included) and no file of the data dir.
- Restart: a clean SIGTERM writes the key activity still held in memory; a new process on the
  same data dir and database sees the keys exactly as they were, and they behave the same.
"""

from __future__ import annotations

import asyncio
import stat
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.support.api import auth, bearer, error_of, new_account
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

KEYS = "/api/openai/v1/keys"
MODELS = "/api/openai/v1/models"
USER = "/api/openai/v1/user"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def create_key(
    web: httpx.Client, account: dict[str, str], name: str, permissions: list[str]
) -> dict[str, Any]:
    r = web.post(KEYS, json={"name": name, "permissions": permissions}, headers=auth(account))
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def listed_keys(web: httpx.Client, account: dict[str, str]) -> dict[str, dict[str, Any]]:
    r = web.get(KEYS, headers=auth(account))
    assert r.status_code == 200, r.text
    return {k["name"]: k for k in r.json()}


def typo(secret: str) -> str:
    return secret[:-1] + ("a" if secret[-1] != "a" else "b")


def use(web: httpx.Client, secret: str, path: str, times: int) -> None:
    for _ in range(times):
        r = web.get(path, headers=bearer(secret))
        assert r.status_code == 200, r.text


# --- secrets -----------------------------------------------------------------------------


def sqlite_path(database_url: str) -> Path | None:
    prefix = "sqlite:///"
    return Path(database_url[len(prefix) :]) if database_url.startswith(prefix) else None


def files_bytes(paths: list[Path]) -> dict[str, bytes]:
    found = {}
    for path in paths:
        if path.is_file():
            found[str(path)] = path.read_bytes()
    return found


def stored_bytes(database_url: str, data_dir: Path) -> dict[str, bytes]:
    """Every byte the server keeps: the data dir's files and the database's content."""
    kept = files_bytes(sorted(data_dir.rglob("*")))
    sqlite = sqlite_path(database_url)
    if sqlite is not None:
        suffixes = ("", "-wal", "-shm", "-journal")
        kept.update(files_bytes([sqlite.with_name(sqlite.name + s) for s in suffixes]))
    else:
        kept["postgresql"] = asyncio.run(postgres_dump(database_url)).encode("utf-8")
    return kept


async def postgres_dump(database_url: str) -> str:
    """Every row of every table of the public schema, as text."""
    conn = await asyncpg.connect(database_url)
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
        lines = []
        for table in tables:
            name = table["tablename"]
            rows = await conn.fetch(f'SELECT t::text AS row FROM "{name}" AS t')  # noqa: S608
            lines += [f"{name}: {row['row']}" for row in rows]
        return "\n".join(lines)
    finally:
        await conn.close()


def fragments(secret: str, size: int = 12) -> set[str]:
    """The secret and its aligned ``size``-character pieces (``sk-`` left out).

    Any stored or logged run of ``2 * size - 1`` or more characters of a secret contains one.
    """
    body = secret.removeprefix("sk-")
    pieces = {body[i : i + size] for i in range(0, len(body) - size + 1, size)}
    return {secret, *pieces}


def leaks(secrets: dict[str, str], places: dict[str, bytes]) -> list[str]:
    """Which secret (by label) appears, whole or in part, in which place."""
    found = []
    for label, secret in secrets.items():
        forms = [form.encode("utf-8") for form in fragments(secret)]
        for where, content in places.items():
            if any(form in content for form in forms):
                found.append(f"{label} in {where}")
    return found


def test_no_secret_is_logged_or_stored(data_dir: Path, database_url: str) -> None:
    env = {"SERIKA_ACCESS_LOG": "true", "SERIKA_LOG_LEVEL": "debug"}
    server = ServerProcess(data_dir, database_url, env=env)
    secrets: dict[str, str] = {}
    with server, httpx.Client(base_url=server.base_url, timeout=30) as web:
        owner = new_account(web, "secret-owner")
        other = new_account(web, "secret-other")
        # A second session for the same account, then a logout.
        r = web.post(
            "/api/auth/login", json={"email": owner["email"], "password": owner["password"]}
        )
        assert r.status_code == 200, r.text
        web.cookies.clear()
        second = {**owner, "token": r.json()["token"]}
        assert web.post("/api/auth/logout", headers=auth(second)).status_code == 204
        for label, account in (("owner", owner), ("other", other), ("second", second)):
            secrets[f"session token of {label}"] = account["token"]
        secrets["password"] = owner["password"]

        keys = {
            "everything": create_key(web, owner, "everything", ["user_info", "text_generation"]),
            "profile": create_key(web, owner, "profile", ["user_info"]),
            "models only": create_key(web, other, "models only", []),
        }
        for name, key in keys.items():
            secrets[f"key {name}"] = key["key"]
        r = web.post(f"{KEYS}/{keys['everything']['id']}/regenerate", headers=auth(owner))
        assert r.status_code == 200, r.text
        secrets["regenerated key everything"] = r.json()["key"]

        use(web, secrets["regenerated key everything"], USER, 3)
        use(web, secrets["key profile"], USER, 2)
        use(web, secrets["key models only"], "/v1/models", 2)
        for rejected in (secrets["key everything"], typo(secrets["key models only"])):
            r = web.get(MODELS, headers=bearer(rejected))
            assert r.status_code == 401 and error_of(r)["code"] == "invalid_api_key"
            assert rejected not in r.text
        r = web.get(USER, headers=bearer(secrets["key models only"]))
        assert r.status_code == 403 and secrets["key models only"] not in r.text

        time.sleep(0.6)  # past the activity flush, so the database has been written to
        while_running = stored_bytes(database_url, data_dir)

    assert server.exit_code == 0, server.log_text()
    log = server.log_text()
    assert "GET /api/openai/v1/user" in log, "the access log should be on for this test"
    assert "Traceback" not in log, log

    after_stop = stored_bytes(database_url, data_dir)
    everything = b"\n".join([*while_running.values(), *after_stop.values()])
    # The scan does see what is stored: names and ids are there, in plain text.
    assert owner["email"].encode() in everything
    assert keys["profile"]["id"].encode() in everything
    places = {"the server log": log.encode("utf-8")}
    places.update({f"{k} (running)": v for k, v in while_running.items()})
    places.update({f"{k} (stopped)": v for k, v in after_stop.items()})
    found = leaks(secrets, places)
    assert not found, found

    secret_file = data_dir / "secret_key"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600


# --- restart -----------------------------------------------------------------------------


def test_keys_and_their_activity_survive_a_restart(data_dir: Path, database_url: str) -> None:
    # Only the shutdown flush can write key activity within this test.
    env = {"SERIKA_ACTIVITY_FLUSH_SECONDS": "30"}
    first = ServerProcess(data_dir, database_url, env=env)
    with first, httpx.Client(base_url=first.base_url, timeout=30) as web:
        account = new_account(web, "restart")
        alpha = create_key(
            web,
            account,
            "alpha",
            ["text_generation", "image_generation", "character_info", "user_info"],
        )
        beta = create_key(web, account, "beta", ["text_generation", "user_info"])
        gamma = create_key(web, account, "gamma", [])
        started = datetime.now(UTC)
        use(web, alpha["key"], MODELS, 3)
        use(web, beta["key"], USER, 5)
        r = web.post(f"{KEYS}/{beta['id']}/disable", headers=auth(account))
        assert r.status_code == 200, r.text
        before = listed_keys(web, account)
        assert all(k["last_used_at"] is None for k in before.values()), (
            "precondition: nothing flushed key activity before the shutdown"
        )
        first.stop()  # SIGTERM, right away
    assert "Traceback" not in first.log_text(), first.log_text()

    second = ServerProcess(data_dir, database_url, env=env, migrate=False)
    with second, httpx.Client(base_url=second.base_url, timeout=30) as web:
        # Sessions live in the database: the same login still works.
        after = listed_keys(web, account)
        assert set(after) == {"alpha", "beta", "gamma"}
        for name in after:
            for field in ("id", "permissions", "status", "active", "hint", "created_at"):
                assert after[name][field] == before[name][field], (name, field)
        assert after["beta"]["status"] == "disabled"
        assert after["alpha"]["permissions"] == alpha["permissions"]
        assert after["gamma"]["permissions"] == []
        assert [after[n]["total_requests"] for n in ("alpha", "beta", "gamma")] == [3, 5, 0]
        assert after["gamma"]["last_used_at"] is None
        for name in ("alpha", "beta"):
            used = datetime.fromisoformat(after[name]["last_used_at"].replace("Z", "+00:00"))
            assert started.replace(microsecond=0) <= used <= datetime.now(UTC), name

        use(web, alpha["key"], USER, 1)
        r = web.get(MODELS, headers=bearer(beta["key"]))
        assert r.status_code == 401 and error_of(r)["code"] == "api_key_disabled"
        r = web.get(MODELS, headers=bearer(gamma["key"]))
        assert r.status_code == 200, r.text
        r = web.get(USER, headers=bearer(gamma["key"]))
        assert r.status_code == 403 and error_of(r)["code"] == "insufficient_permissions"
