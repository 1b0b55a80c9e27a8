"""Small helpers for talking to the app in tests."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

_counter = itertools.count()


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The OpenAI-shaped error of a response, checked for shape."""
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"]
    return dict(error)


def new_account(client: httpx.Client | Any, prefix: str = "user") -> dict[str, str]:
    """Registers an account and logs in with the token header. Returns its details and headers."""
    n = next(_counter)
    email = f"{prefix}{n}@example.com"
    username = f"{prefix}{n}"
    password = "correct horse battery"
    r = client.post(
        "/api/auth/register", json={"email": email, "username": username, "password": password}
    )
    assert r.status_code == 201, r.text
    r = client.post("/api/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    body = r.json()
    client.cookies.clear()
    return {
        "email": email,
        "username": username,
        "password": password,
        "token": body["token"],
        "csrf": body["csrf_token"],
        "user_id": body["user"]["id"],
    }


def auth(account: dict[str, str]) -> dict[str, str]:
    return {"x-auth-token": account["token"]}


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def away_from_window_edge(window: int = 60, margin: float = 8.0) -> None:
    """Wait until the current fixed rate-limit window has at least ``margin`` seconds left, so
    a test's burst of requests is counted in one window (limits reset at each window's edge)."""
    import time

    while window - (time.time() % window) < margin:
        time.sleep(0.2)
