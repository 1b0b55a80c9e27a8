"""POST /api/auth/password: check the current password, keep this session, end the others."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.support.api import auth, error_of, new_account

NEW = "a much better passphrase"


def _login(client: TestClient, email: str, password: str) -> int:
    r = client.post("/api/auth/login", json={"email": email, "password": password})
    client.cookies.clear()
    return r.status_code


def test_changing_the_password_keeps_this_session_and_ends_the_others(
    client: TestClient,
) -> None:
    account = new_account(client, "pw")
    other = client.post(
        "/api/auth/login", json={"email": account["email"], "password": account["password"]}
    ).json()["token"]
    client.cookies.clear()

    r = client.post(
        "/api/auth/password",
        json={"current_password": account["password"], "new_password": NEW},
        headers=auth(account),
    )
    assert r.status_code == 204, r.text

    assert client.get("/api/auth/user", headers=auth(account)).status_code == 200
    r = client.get("/api/auth/user", headers={"x-auth-token": other})
    assert r.status_code == 401
    assert _login(client, account["email"], account["password"]) == 401
    assert _login(client, account["email"], NEW) == 200


def test_a_wrong_current_password_or_a_short_new_one_is_a_400(client: TestClient) -> None:
    account = new_account(client, "pw")
    r = client.post(
        "/api/auth/password",
        json={"current_password": "not my password", "new_password": NEW},
        headers=auth(account),
    )
    assert r.status_code == 400
    assert error_of(r)["code"] == "incorrect_password"
    assert error_of(r)["param"] == "current_password"

    r = client.post(
        "/api/auth/password",
        json={"current_password": account["password"], "new_password": "short"},
        headers=auth(account),
    )
    assert r.status_code == 400
    assert error_of(r)["param"] == "new_password"

    r = client.post("/api/auth/password", json={"new_password": NEW}, headers=auth(account))
    assert r.status_code == 400
    assert error_of(r)["code"] == "missing_parameter"
    assert _login(client, account["email"], account["password"]) == 200


def test_guessing_the_current_password_is_throttled(client: TestClient) -> None:
    account = new_account(client, "pw")
    body = {"current_password": "guess guess", "new_password": NEW}
    codes = [
        client.post("/api/auth/password", json=body, headers=auth(account)).status_code
        for _ in range(6)
    ]
    assert codes[:5] == [400] * 5
    assert codes[5] == 429


def test_a_cookie_session_needs_the_csrf_token(client: TestClient) -> None:
    account = new_account(client, "pw")
    r = client.post(
        "/api/auth/login", json={"email": account["email"], "password": account["password"]}
    )
    csrf = r.json()["csrf_token"]
    body = {"current_password": account["password"], "new_password": NEW}
    r = client.post("/api/auth/password", json=body)
    assert r.status_code == 403
    assert error_of(r)["code"] == "csrf_failed"
    r = client.post("/api/auth/password", json=body, headers={"x-csrf-token": csrf})
    assert r.status_code == 204
    assert client.get("/api/auth/user").status_code == 200


def test_signing_in_is_required(client: TestClient) -> None:
    r = client.post("/api/auth/password", json={"current_password": "x", "new_password": NEW})
    assert r.status_code == 401
