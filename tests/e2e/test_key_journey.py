"""The seed's journey against the real server, with the official ``openai`` package.

Register, log in, create a key, list models through both base URLs, then regenerate, disable
and delete keys and watch the SDK raise what an OpenAI user expects.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.support.api import auth, bearer, error_of, new_account
from tests.support.databases import DatabaseFactory
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

KEYS = "/api/openai/v1/keys"
DEMO_CHAT = "demo/serika-chat"


@pytest.fixture(scope="module")
def server(
    database_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One server per backend for this module's tests."""
    root = tmp_path_factory.mktemp(f"journey-{database_factory.backend}")
    with ServerProcess(root / "data", database_factory.new(root / "db")) as running:
        yield running
        log = running.log_text()
    assert "Traceback" not in log, log


@pytest.fixture
def web(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        yield client


@pytest.fixture
def account(web: httpx.Client) -> dict[str, str]:
    return new_account(web, "journey")


def sdk(server: ServerProcess, secret: str, base_path: str = "/api/openai/v1") -> openai.OpenAI:
    return openai.OpenAI(api_key=secret, base_url=server.base_url + base_path, max_retries=0)


def create_key(
    web: httpx.Client, account: dict[str, str], name: str, permissions: list[str] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name}
    if permissions is not None:
        body["permissions"] = permissions
    r = web.post(KEYS, json=body, headers=auth(account))
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    assert created["key"].startswith("sk-")
    return created


def model_ids(client: openai.OpenAI) -> list[str]:
    return [m.id for m in client.models.list()]


def test_sdk_journey_regenerate_disable_delete(
    server: ServerProcess, web: httpx.Client, account: dict[str, str]
) -> None:
    key = create_key(web, account, "laptop")

    with sdk(server, key["key"]) as client:
        ids = model_ids(client)
        assert DEMO_CHAT in ids
        model = client.models.retrieve(DEMO_CHAT)
        assert model.id == DEMO_CHAT and model.object == "model"
        assert model.owned_by == "demo"
        with pytest.raises(openai.NotFoundError) as missing:
            client.models.retrieve("nobody/no-such-model")
        assert missing.value.code == "model_not_found"
    with sdk(server, key["key"], "/v1") as short:
        assert model_ids(short) == ids
        assert short.models.retrieve(DEMO_CHAT).id == DEMO_CHAT

    # Regenerate: same key, new secret; the old secret stops working at once.
    r = web.post(f"{KEYS}/{key['id']}/regenerate", headers=auth(account))
    assert r.status_code == 200, r.text
    regenerated = r.json()
    assert regenerated["id"] == key["id"] and regenerated["name"] == "laptop"
    assert regenerated["key"] != key["key"]
    with sdk(server, key["key"]) as old, pytest.raises(openai.AuthenticationError) as rejected:
        old.models.list()
    assert rejected.value.status_code == 401
    assert rejected.value.code == "invalid_api_key"
    with sdk(server, regenerated["key"]) as new:
        assert DEMO_CHAT in model_ids(new)

    # Disable: rejected with its own code; enable brings it back.
    r = web.post(f"{KEYS}/{key['id']}/disable", headers=auth(account))
    assert r.status_code == 200 and r.json()["status"] == "disabled", r.text
    with sdk(server, regenerated["key"]) as new:
        with pytest.raises(openai.AuthenticationError) as disabled:
            new.models.list()
        assert disabled.value.code == "api_key_disabled"
        r = web.post(f"{KEYS}/{key['id']}/enable", headers=auth(account))
        assert r.status_code == 200 and r.json()["status"] == "active", r.text
        assert DEMO_CHAT in model_ids(new)

    # Delete: gone for good.
    r = web.delete(f"{KEYS}/{key['id']}", headers=auth(account))
    assert r.status_code == 204, r.text
    with sdk(server, regenerated["key"]) as new, pytest.raises(openai.AuthenticationError) as gone:
        new.models.list()
    assert gone.value.code == "invalid_api_key"
    assert web.get(f"{KEYS}/{key['id']}", headers=auth(account)).status_code == 404


def test_user_profile_needs_user_info(
    server: ServerProcess, web: httpx.Client, account: dict[str, str]
) -> None:
    without = create_key(web, account, "text only", ["text_generation"])
    with_info = create_key(web, account, "profile", ["user_info"])

    with sdk(server, without["key"]) as client:
        assert DEMO_CHAT in model_ids(client)  # /models needs no permission
        with pytest.raises(openai.PermissionDeniedError) as denied:
            client.get("/user", cast_to=object)
    assert denied.value.status_code == 403
    assert denied.value.code == "insufficient_permissions"
    assert "user_info" in denied.value.message

    with sdk(server, with_info["key"]) as client:
        profile = client.get("/user", cast_to=object)
    assert isinstance(profile, dict)
    assert profile["id"] == account["user_id"]
    assert profile["email"] == account["email"]
    assert profile["username"] == account["username"]
    assert profile["tier"] == "free"
    assert profile["join_date"]


def test_plain_http_clients(server: ServerProcess, web: httpx.Client) -> None:
    """curl-style callers: bare ``Authorization: sk-…`` works, a missing key is explained."""
    account = new_account(web, "curl")
    secret = create_key(web, account, "script")["key"]
    for headers in (bearer(secret), {"Authorization": secret}):
        r = web.get("/v1/models", headers=headers)
        assert r.status_code == 200, r.text
        assert DEMO_CHAT in [m["id"] for m in r.json()["data"]]
    r = web.get("/api/openai/v1/models")
    assert r.status_code == 401
    assert error_of(r)["code"] == "missing_api_key"
    typo = secret[:-1] + ("a" if secret[-1] != "a" else "b")
    r = web.get("/api/openai/v1/models", headers=bearer(typo))
    assert r.status_code == 401
    assert error_of(r)["code"] == "invalid_api_key"
