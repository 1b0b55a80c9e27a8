"""Bad input of every kind gets an OpenAI-shaped error, never a 500, and loses nothing."""

from __future__ import annotations

import random

import pytest
from starlette.testclient import TestClient

from serika.app import create_app
from tests.conftest import fast_settings
from tests.support.api import auth, error_of, new_account

KEYS = "/api/openai/v1/keys"


def test_invalid_json_is_400_invalid_json(client: TestClient) -> None:
    account = new_account(client)
    for raw in [b"{", b"not json", b"[1, 2]", b'"a string"', b"", b"\xff\xfe", b"null"]:
        r = client.post(
            KEYS, content=raw, headers={**auth(account), "content-type": "application/json"}
        )
        assert r.status_code == 400, raw
        error = error_of(r)
        assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_json")


def test_bodies_over_the_limit_are_413(tmp_path: object, database_url: str) -> None:
    settings = fast_settings(tmp_path / "d", database_url, max_body_bytes=2048)  # type: ignore[operator]
    with TestClient(create_app(settings)) as client:
        account = new_account(client)
        big = b'{"name": "' + b"x" * 4096 + b'"}'
        r = client.post(KEYS, content=big, headers=auth(account))
        assert r.status_code == 413
        assert error_of(r)["code"] == "request_too_large"

        def chunks() -> object:  # no Content-Length: counted as it streams in
            for _ in range(8):
                yield b"x" * 512

        r = client.post(KEYS, content=chunks(), headers=auth(account))  # type: ignore[arg-type]
        assert r.status_code == 413
        assert client.get(KEYS, headers=auth(account)).json() == []


def test_unknown_routes_and_methods(client: TestClient) -> None:
    r = client.get("/api/openai/v1/nothing-here")
    assert r.status_code == 404 and error_of(r)["type"] == "not_found_error"
    r = client.delete("/api/openai/v1/models")
    assert r.status_code == 405
    assert error_of(r)["code"] == "method_not_allowed"


def test_healthz(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_metrics_show_the_key_cache(client: TestClient) -> None:
    account = new_account(client)
    secret = client.post(KEYS, json={"name": "m"}, headers=auth(account)).json()["key"]
    client.get("/v1/models", headers={"Authorization": f"Bearer {secret}"})
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert "serika_key_cache_entries 1" in r.text
    assert secret not in r.text


@pytest.mark.parametrize("seed", range(3))
def test_random_garbage_never_causes_a_500(client: TestClient, seed: int) -> None:
    account = new_account(client)
    created = client.post(KEYS, json={"name": "survivor"}, headers=auth(account)).json()
    rng = random.Random(seed)
    values: list[object] = [
        None,
        True,
        0,
        -1,
        10**30,
        1.5,
        "",
        "x" * 300,
        "\u0000",
        "' OR 1=1 --",
        "<script>alert(1)</script>",
        [],
        [None],
        ["user_info"] * 50,
        {},
        {"a": {"b": []}},
    ]
    fields = ["name", "permissions", "active", "email", "password", "username"]
    paths = [
        ("POST", KEYS),
        ("PATCH", f"{KEYS}/{created['id']}"),
        ("PUT", f"{KEYS}/{created['id']}/permissions"),
        ("POST", "/api/auth/register"),
        ("POST", "/api/auth/login"),
        ("PATCH", f"{KEYS}/%00"),
        ("GET", f"{KEYS}/..%2f..%2f"),
    ]
    for _ in range(60):
        body = {rng.choice(fields): rng.choice(values) for _ in range(rng.randint(0, 4))}
        method, path = rng.choice(paths)
        r = client.request(method, path, json=body, headers=auth(account))
        assert r.status_code < 500, (method, path, body, r.text)
        if r.status_code >= 400:
            error_of(r)
    listed = client.get(KEYS, headers=auth(account)).json()
    assert created["id"] in {k["id"] for k in listed}
