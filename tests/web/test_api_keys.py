"""/api/openai/v1/keys: the whole key lifecycle over HTTP, good input and bad."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from serika.app import create_app
from serika.config import Settings
from tests.support.api import auth, bearer, error_of, new_account

KEYS = "/api/openai/v1/keys"
ALL = ["text_generation", "image_generation", "character_info", "user_info"]
KEY_RE = re.compile(r"^sk-[0-9A-Za-z]{49}$")


@pytest.fixture
def account(client: TestClient) -> dict[str, str]:
    return new_account(client)


def _create(client: TestClient, account: dict[str, str], **body: Any) -> Any:
    r = client.post(KEYS, json=body, headers=auth(account))
    assert r.status_code == 201, r.text
    return r.json()


def test_create_returns_the_secret_once(client: TestClient, account: dict[str, str]) -> None:
    created = _create(client, account, name="Production", permissions=["text_generation"])
    assert KEY_RE.fullmatch(created["key"])
    assert created["name"] == "Production"
    assert created["permissions"] == ["text_generation"]
    assert created["status"] == "active" and created["active"] is True
    assert created["hint"] == "sk-…" + created["key"][-4:]
    assert created["last_used_at"] is None
    assert created["total_requests"] == created["total_tokens"] == created["total_images"] == 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", created["created_at"])

    listed = client.get(KEYS, headers=auth(account)).json()
    fetched = client.get(f"{KEYS}/{created['id']}", headers=auth(account)).json()
    for body in (listed, fetched):
        assert created["key"] not in str(body)
    assert "key" not in fetched
    assert fetched["id"] == created["id"]


def test_permissions_default_to_all_four_and_may_be_empty(
    client: TestClient, account: dict[str, str]
) -> None:
    assert _create(client, account, name="old client")["permissions"] == ALL
    assert _create(client, account, name="models only", permissions=[])["permissions"] == []


def test_list_is_newest_first_with_every_field(client: TestClient, account: dict[str, str]) -> None:
    names = [f"key {n}" for n in range(3)]
    for name in names:
        _create(client, account, name=name)
    listed = client.get(KEYS, headers=auth(account)).json()
    assert [k["name"] for k in listed] == list(reversed(names))
    expected = {
        "id",
        "object",
        "name",
        "hint",
        "permissions",
        "status",
        "active",
        "created_at",
        "last_used_at",
        "total_requests",
        "total_tokens",
        "total_images",
    }
    assert all(set(k) == expected for k in listed)


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({}, "name", "missing_parameter"),
        ({"name": ""}, "name", "invalid_parameter"),
        ({"name": "   "}, "name", "invalid_parameter"),
        ({"name": "x" * 65}, "name", "invalid_parameter"),
        ({"name": 42}, "name", "invalid_parameter"),
        ({"name": "bell\u0007"}, "name", "invalid_parameter"),
        ({"name": "ok", "permissions": ["admin"]}, "permissions", "invalid_parameter"),
        ({"name": "ok", "permissions": "user_info"}, "permissions", "invalid_parameter"),
    ],
)
def test_create_rejects_bad_input(
    client: TestClient, account: dict[str, str], body: dict[str, Any], param: str, code: str
) -> None:
    r = client.post(KEYS, json=body, headers=auth(account))
    assert r.status_code == 400
    error = error_of(r)
    assert (error["param"], error["code"], error["type"]) == (param, code, "invalid_request_error")
    assert client.get(KEYS, headers=auth(account)).json() == []


def test_names_are_trimmed_and_64_characters_fit(
    client: TestClient, account: dict[str, str]
) -> None:
    assert _create(client, account, name="  spaced   out  ")["name"] == "spaced out"
    assert _create(client, account, name="é" * 64)["name"] == "é" * 64


def test_edit_name_permissions_and_status(client: TestClient, account: dict[str, str]) -> None:
    key = _create(client, account, name="before", permissions=["user_info"])
    url = f"{KEYS}/{key['id']}"
    r = client.patch(
        url, json={"name": "after", "permissions": ["text_generation"]}, headers=auth(account)
    )
    assert r.status_code == 200
    assert (r.json()["name"], r.json()["permissions"]) == ("after", ["text_generation"])
    r = client.put(
        f"{url}/permissions",
        json={"permissions": ["user_info", "character_info"]},
        headers=auth(account),
    )
    assert r.json()["permissions"] == ["character_info", "user_info"]
    r = client.patch(url, json={"active": False}, headers=auth(account))
    assert (r.json()["status"], r.json()["active"]) == ("disabled", False)
    r = client.post(f"{url}/enable", headers=auth(account))
    assert r.json()["status"] == "active"
    r = client.post(f"{url}/disable", headers=auth(account))
    assert r.json()["status"] == "disabled"
    fetched = client.get(url, headers=auth(account)).json()
    assert fetched["name"] == "after" and fetched["status"] == "disabled"


@pytest.mark.parametrize(
    ("method", "suffix", "body", "param"),
    [
        ("PATCH", "", {"active": "yes"}, "active"),
        ("PATCH", "", {"permissions": ["root"]}, "permissions"),
        ("PATCH", "", {"name": ""}, "name"),
        ("PUT", "/permissions", {}, "permissions"),
        ("PUT", "/permissions", {"permissions": [None]}, "permissions"),
    ],
)
def test_edit_rejects_bad_input_and_keeps_the_key(
    client: TestClient,
    account: dict[str, str],
    method: str,
    suffix: str,
    body: dict[str, Any],
    param: str,
) -> None:
    key = _create(client, account, name="keep me", permissions=["user_info"])
    url = f"{KEYS}/{key['id']}"
    r = client.request(method, url + suffix, json=body, headers=auth(account))
    assert r.status_code == 400
    assert error_of(r)["param"] == param
    after = client.get(url, headers=auth(account)).json()
    assert (after["name"], after["permissions"], after["status"]) == (
        "keep me",
        ["user_info"],
        "active",
    )


def test_regenerate_keeps_identity_and_replaces_the_secret(
    client: TestClient, account: dict[str, str]
) -> None:
    key = _create(client, account, name="rotating", permissions=["user_info"])
    old = key["key"]
    assert client.get("/api/openai/v1/user", headers=bearer(old)).status_code == 200
    r = client.post(f"{KEYS}/{key['id']}/regenerate", headers=auth(account))
    assert r.status_code == 200
    new = r.json()
    assert new["id"] == key["id"] and new["name"] == "rotating"
    assert new["permissions"] == ["user_info"]
    assert KEY_RE.fullmatch(new["key"]) and new["key"] != old
    assert new["hint"] == "sk-…" + new["key"][-4:]
    r = client.get("/api/openai/v1/user", headers=bearer(old))
    assert r.status_code == 401
    assert error_of(r)["code"] == "invalid_api_key"
    assert client.get("/api/openai/v1/user", headers=bearer(new["key"])).status_code == 200


def test_delete_is_final(client: TestClient, account: dict[str, str]) -> None:
    key = _create(client, account, name="doomed")
    assert client.get("/api/openai/v1/models", headers=bearer(key["key"])).status_code == 200
    assert client.delete(f"{KEYS}/{key['id']}", headers=auth(account)).status_code == 204
    assert client.get("/api/openai/v1/models", headers=bearer(key["key"])).status_code == 401
    assert client.get(f"{KEYS}/{key['id']}", headers=auth(account)).status_code == 404
    assert client.delete(f"{KEYS}/{key['id']}", headers=auth(account)).status_code == 404


def test_unknown_key_ids_are_404_everywhere(client: TestClient, account: dict[str, str]) -> None:
    url = f"{KEYS}/key_doesnotexist"
    for method, suffix, body in _ALL_ID_ROUTES:
        r = client.request(method, url + suffix, json=body, headers=auth(account))
        assert r.status_code == 404, (method, suffix)
        assert error_of(r)["type"] == "not_found_error"


_ALL_ID_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "", None),
    ("PATCH", "", {"name": "stolen"}),
    ("PUT", "/permissions", {"permissions": []}),
    ("POST", "/disable", None),
    ("POST", "/enable", None),
    ("POST", "/regenerate", None),
    ("DELETE", "", None),
]


def test_two_accounts_never_see_or_touch_each_others_keys(client: TestClient) -> None:
    alice = new_account(client, "alice")
    mallory = new_account(client, "mallory")
    key = _create(client, alice, name="alice's", permissions=["user_info"])
    _create(client, mallory, name="mallory's")

    assert [k["name"] for k in client.get(KEYS, headers=auth(mallory)).json()] == ["mallory's"]
    assert [k["name"] for k in client.get(KEYS, headers=auth(alice)).json()] == ["alice's"]
    for method, suffix, body in _ALL_ID_ROUTES:
        r = client.request(method, f"{KEYS}/{key['id']}{suffix}", json=body, headers=auth(mallory))
        assert r.status_code == 404, (method, suffix)
        assert error_of(r)["code"] == "not_found"
    after = client.get(f"{KEYS}/{key['id']}", headers=auth(alice)).json()
    assert (after["name"], after["status"], after["permissions"]) == (
        "alice's",
        "active",
        ["user_info"],
    )
    r = client.get("/api/openai/v1/user", headers=bearer(key["key"]))
    assert r.status_code == 200 and r.json()["id"] == alice["user_id"]


def test_key_routes_need_a_session(client: TestClient) -> None:
    r = client.get(KEYS)
    assert r.status_code == 401
    assert error_of(r)["type"] == "authentication_error"
    account = new_account(client)
    key = _create(client, account, name="k")
    # an API key is not a session
    assert client.get(KEYS, headers=bearer(key["key"])).status_code == 401


def test_the_per_account_cap_is_409(tmp_path: Any, database_url: str) -> None:
    from tests.conftest import fast_settings

    settings: Settings = fast_settings(tmp_path / "d", database_url, max_keys_per_account=3)
    with TestClient(create_app(settings)) as client:
        account = new_account(client)
        for n in range(3):
            _create(client, account, name=f"k{n}")
        r = client.post(KEYS, json={"name": "one too many"}, headers=auth(account))
        assert r.status_code == 409
        assert error_of(r)["code"] == "key_limit_reached"
        assert len(client.get(KEYS, headers=auth(account)).json()) == 3
        first = client.get(KEYS, headers=auth(account)).json()[0]
        client.delete(f"{KEYS}/{first['id']}", headers=auth(account))
        assert client.post(KEYS, json={"name": "fits"}, headers=auth(account)).status_code == 201
