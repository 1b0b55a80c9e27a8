"""The API-key edge: presenting keys, the permission matrix, models and the profile."""

from __future__ import annotations

import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from serika.keys.format import generate_key
from tests.support.api import auth, bearer, error_of, new_account

V1 = "/api/openai/v1"
PERMS = ["text_generation", "image_generation", "character_info", "user_info"]

# (method, path, permission needed) for every API-key endpoint that exists so far.
CHAT = {"model": "demo/serika-chat", "messages": [{"role": "user", "content": "hi"}]}
ENDPOINTS: list[tuple[str, str, str | None, dict[str, Any] | None]] = [
    ("GET", "/models", None, None),
    ("GET", "/models/demo/serika-chat", None, None),
    ("GET", "/user", "user_info", None),
    ("GET", "/usage", "user_info", None),
    ("POST", "/chat/completions", "text_generation", CHAT),
    ("POST", "/completions", "text_generation", {"model": "demo/serika-chat", "prompt": "x"}),
    ("POST", "/generate/text", "text_generation", {"prompt": "x"}),
    ("GET", "/characters", "character_info", None),
    ("GET", "/characters/chr_sampleByte0000000000", "character_info", None),
]


def _key(client: TestClient, account: dict[str, str], permissions: list[str]) -> Any:
    r = client.post(
        f"{V1}/keys", json={"name": "k", "permissions": permissions}, headers=auth(account)
    )
    assert r.status_code == 201
    return r.json()


@pytest.mark.parametrize("granted", [[], *[[p] for p in PERMS], PERMS])
def test_permission_matrix(client: TestClient, granted: list[str]) -> None:
    account = new_account(client)
    secret = _key(client, account, granted)["key"]
    for method, path, needed, body in ENDPOINTS:
        for base in (V1, "/v1"):
            r = client.request(method, base + path, headers=bearer(secret), json=body)
            if needed is None or needed in granted:
                assert r.status_code == 200, (path, granted, r.text)
            else:
                assert r.status_code == 403, (path, granted)
                error = error_of(r)
                assert (error["type"], error["code"]) == (
                    "permission_error",
                    "insufficient_permissions",
                )
                assert needed in error["message"]


def test_models_lists_the_offline_demo_models(client: TestClient) -> None:
    secret = _key(client, new_account(client), [])["key"]
    body = client.get(f"{V1}/models", headers=bearer(secret)).json()
    assert body["object"] == "list"
    ids = {m["id"]: m for m in body["data"]}
    assert {"demo/serika-chat", "demo/serika-image"} <= set(ids)
    chat = ids["demo/serika-chat"]
    assert chat["object"] == "model" and chat["type"] == "text" and chat["tier"] == "free"
    assert chat["provider"] == "demo" and "offline" in chat["name"].lower()
    # upstream providers are not configured, so their models are not listed
    assert "openai/gpt-4o-mini" not in ids


def test_one_model_and_an_unknown_model(client: TestClient) -> None:
    secret = _key(client, new_account(client), [])["key"]
    r = client.get(f"{V1}/models/demo/serika-image", headers=bearer(secret))
    assert r.status_code == 200 and r.json()["type"] == "image"
    r = client.get(f"{V1}/models/openai/gpt-4o-mini", headers=bearer(secret))
    assert r.status_code == 404
    error = error_of(r)
    assert (error["type"], error["code"]) == ("invalid_request_error", "model_not_found")


def test_user_profile(client: TestClient) -> None:
    account = new_account(client)
    secret = _key(client, account, ["user_info"])["key"]
    for header in (bearer(secret), {"Authorization": secret}):
        r = client.get(f"{V1}/user", headers=header)
        assert r.status_code == 200
        body = r.json()
        assert body["id"] == account["user_id"]
        assert body["username"] == account["username"]
        assert body["email"] == account["email"]
        assert body["tier"] == "free" and body["join_date"]


def test_every_kind_of_bad_key_is_401_with_its_code(client: TestClient) -> None:
    account = new_account(client)
    good = _key(client, account, PERMS)
    disabled = _key(client, account, PERMS)
    client.post(f"{V1}/keys/{disabled['id']}/disable", headers=auth(account))
    regenerated = _key(client, account, PERMS)
    client.post(f"{V1}/keys/{regenerated['id']}/regenerate", headers=auth(account))
    deleted = _key(client, account, PERMS)
    client.delete(f"{V1}/keys/{deleted['id']}", headers=auth(account))
    typo = good["key"][:-1] + ("a" if good["key"][-1] != "a" else "b")

    cases = [
        ({}, "missing_api_key"),
        ({"Authorization": ""}, "missing_api_key"),
        ({"Authorization": "Bearer "}, "missing_api_key"),
        (bearer("hello"), "invalid_api_key"),
        (bearer("sk-" + "a" * 10), "invalid_api_key"),
        (bearer(typo), "invalid_api_key"),
        (bearer(generate_key()), "invalid_api_key"),
        (bearer(disabled["key"]), "api_key_disabled"),
        (bearer(regenerated["key"]), "invalid_api_key"),
        (bearer(deleted["key"]), "invalid_api_key"),
        ({"Authorization": "Basic " + good["key"]}, "invalid_api_key"),
    ]
    for headers, code in cases:
        r = client.get(f"{V1}/models", headers=headers)
        assert r.status_code == 401, headers
        error = error_of(r)
        assert (error["type"], error["code"]) == ("authentication_error", code), headers
        assert good["key"] not in r.text
    assert client.get(f"{V1}/models", headers=bearer(good["key"])).status_code == 200


def test_enabling_a_disabled_key_lets_it_back_in(client: TestClient) -> None:
    account = new_account(client)
    key = _key(client, account, [])
    assert client.get(f"{V1}/models", headers=bearer(key["key"])).status_code == 200
    client.post(f"{V1}/keys/{key['id']}/disable", headers=auth(account))
    assert client.get(f"{V1}/models", headers=bearer(key["key"])).status_code == 401
    client.post(f"{V1}/keys/{key['id']}/enable", headers=auth(account))
    assert client.get(f"{V1}/models", headers=bearer(key["key"])).status_code == 200


def test_permission_changes_apply_to_the_next_request(client: TestClient) -> None:
    account = new_account(client)
    key = _key(client, account, ["user_info"])
    assert client.get(f"{V1}/user", headers=bearer(key["key"])).status_code == 200
    client.put(
        f"{V1}/keys/{key['id']}/permissions", json={"permissions": []}, headers=auth(account)
    )
    assert client.get(f"{V1}/user", headers=bearer(key["key"])).status_code == 403
    client.patch(
        f"{V1}/keys/{key['id']}", json={"permissions": ["user_info"]}, headers=auth(account)
    )
    assert client.get(f"{V1}/user", headers=bearer(key["key"])).status_code == 200


def test_use_moves_last_used_and_totals(client: TestClient) -> None:
    account = new_account(client)
    key = _key(client, account, [])
    for _ in range(3):
        client.get(f"{V1}/models", headers=bearer(key["key"]))
    client.get(f"{V1}/user", headers=bearer(key["key"]))  # refused: not counted as a request
    deadline = time.monotonic() + 5
    while True:
        listed = client.get(f"{V1}/keys/{key['id']}", headers=auth(account)).json()
        if listed["total_requests"] >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert listed["total_requests"] == 3
    assert listed["last_used_at"] is not None
    assert listed["last_used_at"] >= listed["created_at"]


def test_user_profile_shows_this_months_usage(client: TestClient) -> None:
    account = new_account(client)
    secret = _key(client, account, ["user_info", "text_generation"])["key"]
    before = client.get(f"{V1}/user", headers=bearer(secret)).json()
    assert before["usage"]["total_requests"] == 0  # a request counts once it has been answered
    answer = client.post(f"{V1}/chat/completions", json=CHAT, headers=bearer(secret)).json()
    after = client.get(f"{V1}/user", headers=bearer(secret)).json()
    assert after["usage"]["total_tokens"] == answer["usage"]["total_tokens"]
    assert after["usage"]["period_start"].endswith("-01")
    limits = after["limits"]
    assert limits["tier"] == "free"
    assert limits["monthly_tokens_used"] == answer["usage"]["total_tokens"]
