"""Cookie-authenticated writes need the CSRF token; token-header scripts do not."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.support.api import auth, error_of, new_account


def _cookie_login(client: TestClient) -> str:
    account = new_account(client)
    r = client.post(
        "/api/auth/login", json={"email": account["email"], "password": account["password"]}
    )
    assert "serika_session" in client.cookies
    return str(r.json()["csrf_token"])


def test_cross_site_cookie_write_without_the_token_is_refused(client: TestClient) -> None:
    _cookie_login(client)
    r = client.post(
        "/api/openai/v1/keys",
        json={"name": "forged"},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403
    assert error_of(r)["code"] == "csrf_failed"
    assert client.get("/api/openai/v1/keys").json() == []


def test_a_wrong_token_is_refused(client: TestClient) -> None:
    _cookie_login(client)
    r = client.post("/api/openai/v1/keys", json={"name": "x"}, headers={"x-csrf-token": "nope"})
    assert r.status_code == 403


def test_cookie_write_with_the_token_works(client: TestClient) -> None:
    csrf = _cookie_login(client)
    r = client.post("/api/openai/v1/keys", json={"name": "mine"}, headers={"x-csrf-token": csrf})
    assert r.status_code == 201
    key_id = r.json()["id"]
    r = client.delete(f"/api/openai/v1/keys/{key_id}")
    assert r.status_code == 403  # deleting is a write too
    r = client.delete(f"/api/openai/v1/keys/{key_id}", headers={"x-csrf-token": csrf})
    assert r.status_code == 204


def test_cookie_logout_needs_the_token(client: TestClient) -> None:
    csrf = _cookie_login(client)
    assert client.post("/api/auth/logout").status_code == 403
    assert client.get("/api/auth/user").status_code == 200
    assert client.post("/api/auth/logout", headers={"x-csrf-token": csrf}).status_code == 204
    assert client.get("/api/auth/user").status_code == 401


def test_token_header_scripts_need_no_csrf_token(client: TestClient) -> None:
    account = new_account(client)
    r = client.post("/api/openai/v1/keys", json={"name": "script"}, headers=auth(account))
    assert r.status_code == 201


def test_an_html_form_may_carry_the_token_in_the_csrf_token_field(client: TestClient) -> None:
    csrf = _cookie_login(client)
    r = client.post("/api/auth/logout", data={"csrf_token": "wrong"})
    assert r.status_code == 403
    r = client.post("/api/auth/logout", data={"other": "field"})
    assert r.status_code == 403
    r = client.post("/api/auth/logout", data={"csrf_token": csrf})
    assert r.status_code == 204


def test_a_form_field_token_leaves_the_body_readable(client: TestClient) -> None:
    csrf = _cookie_login(client)
    r = client.post("/api/openai/v1/keys", data={"csrf_token": csrf, "name": "form"})
    assert r.status_code == 400  # the JSON API still wants JSON, and says so
    assert error_of(r)["code"] == "invalid_json"


def test_a_non_ascii_token_is_refused_not_a_crash(client: TestClient) -> None:
    _cookie_login(client)
    r = client.post("/api/auth/logout", data={"csrf_token": "jeton-\u00e9\u4e2d"})
    assert r.status_code == 403
