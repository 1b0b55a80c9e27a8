"""/api/auth: register, log in (cookie or token), log out, throttling."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.support.api import auth, error_of, new_account

PASSWORD = "correct horse battery"


def _register(client: TestClient, email: str, username: str, password: str = PASSWORD) -> Any:
    return client.post(
        "/api/auth/register", json={"email": email, "username": username, "password": password}
    )


def test_register_login_and_whoami_with_the_token_header(client: TestClient) -> None:
    r = _register(client, "Ada@Example.com", "ada")
    assert r.status_code == 201
    user = r.json()
    assert user["email"] == "ada@example.com"
    assert user["username"] == "ada"
    assert user["tier"] == "free"
    assert "password" not in str(user) and "hash" not in str(user)

    r = client.post("/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["user"]["id"] == user["id"]
    client.cookies.clear()
    me = client.get("/api/auth/user", headers={"x-auth-token": body["token"]})
    assert me.status_code == 200
    assert me.json()["id"] == user["id"]


def test_login_sets_an_httponly_session_cookie_that_authenticates(client: TestClient) -> None:
    _register(client, "bo@example.com", "bob")
    r = client.post("/api/auth/login", json={"email": "bo@example.com", "password": PASSWORD})
    cookie = r.headers["set-cookie"]
    assert "serika_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert client.get("/api/auth/user").status_code == 200


def test_duplicate_email_and_username_are_409(client: TestClient) -> None:
    _register(client, "cy@example.com", "cyd")
    r = _register(client, "CY@example.com", "other")
    assert r.status_code == 409
    assert error_of(r)["param"] == "email"
    r = _register(client, "new@example.com", "cyd")
    assert r.status_code == 409
    assert error_of(r)["param"] == "username"


def test_register_validates_every_field(client: TestClient) -> None:
    cases = [
        ({"email": "not-an-email", "username": "deedee", "password": PASSWORD}, "email"),
        ({"email": "d@example.com", "username": "d", "password": PASSWORD}, "username"),
        ({"email": "d@example.com", "username": "dee dee", "password": PASSWORD}, "username"),
        ({"email": "d@example.com", "username": "deedee", "password": "short"}, "password"),
        ({"email": "d@example.com", "username": "deedee", "password": 12345678}, "password"),
        ({"username": "deedee", "password": PASSWORD}, "email"),
    ]
    for body, param in cases:
        r = client.post("/api/auth/register", json=body)
        assert r.status_code == 400, body
        error = error_of(r)
        assert error["param"] == param
        assert error["type"] == "invalid_request_error"


def test_wrong_password_and_unknown_email_look_the_same(client: TestClient) -> None:
    _register(client, "ed@example.com", "eddie")
    wrong = client.post("/api/auth/login", json={"email": "ed@example.com", "password": "nope!!!!"})
    unknown = client.post("/api/auth/login", json={"email": "zz@example.com", "password": "x" * 9})
    assert wrong.status_code == unknown.status_code == 401
    assert error_of(wrong)["message"] == error_of(unknown)["message"]


def test_failed_logins_are_throttled_per_account(client: TestClient) -> None:
    _register(client, "fi@example.com", "fiona")
    for _ in range(5):
        r = client.post(
            "/api/auth/login", json={"email": "fi@example.com", "password": "bad-pass1"}
        )
        assert r.status_code == 401
    r = client.post("/api/auth/login", json={"email": "fi@example.com", "password": PASSWORD})
    assert r.status_code == 429
    assert error_of(r)["type"] == "rate_limit_error"
    assert int(r.headers["retry-after"]) > 0
    # another account from the same address is not locked out by this one
    _register(client, "gi@example.com", "gina")
    r = client.post("/api/auth/login", json={"email": "gi@example.com", "password": PASSWORD})
    assert r.status_code == 200


def test_failed_logins_are_throttled_per_address(client: TestClient) -> None:
    for n in range(20):
        client.post("/api/auth/login", json={"email": f"x{n}@example.com", "password": "bad-pass1"})
    _register(client, "hi@example.com", "hilda")
    r = client.post("/api/auth/login", json={"email": "hi@example.com", "password": PASSWORD})
    assert r.status_code == 429


def test_logout_revokes_the_session_server_side(client: TestClient) -> None:
    account = new_account(client)
    assert client.get("/api/auth/user", headers=auth(account)).status_code == 200
    assert client.post("/api/auth/logout", headers=auth(account)).status_code == 204
    r = client.get("/api/auth/user", headers=auth(account))
    assert r.status_code == 401
    assert error_of(r)["type"] == "authentication_error"


def test_logout_of_one_session_leaves_others(client: TestClient) -> None:
    account = new_account(client)
    r = client.post(
        "/api/auth/login", json={"email": account["email"], "password": account["password"]}
    )
    client.cookies.clear()
    second = {"x-auth-token": r.json()["token"]}
    client.post("/api/auth/logout", headers=auth(account))
    assert client.get("/api/auth/user", headers=second).status_code == 200


def test_no_session_and_a_bogus_session_are_401(client: TestClient) -> None:
    assert client.get("/api/auth/user").status_code == 401
    r = client.get("/api/auth/user", headers={"x-auth-token": "forged"})
    assert r.status_code == 401
    assert error_of(r)["code"] == "not_authenticated"
