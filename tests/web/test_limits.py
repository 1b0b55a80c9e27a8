"""Tiers and limits through HTTP, in process: every refusal, its error and headers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from serika.app import create_app
from serika.errors import SerikaError
from serika.web.http_server import BODY_EXTENSION
from serika.web.limits import BodySizeLimit
from serika.web.responses import error_response
from tests.conftest import fast_settings
from tests.support.api import auth, away_from_window_edge, bearer, error_of, new_account
from tests.web.test_http_server import answer, connect, read_answer, read_body, run

V1 = "/api/openai/v1"
ADMIN = "admin-token-for-tests-0123456789"
PREMIUM_MODEL = {
    "id": "demo/premium-chat",
    "name": "Premium demo",
    "type": "text",
    "tier": "premium",
    "provider": "demo",
    "prompt_price": 1_000_000.0,
    "completion_price": 1_000_000.0,
}


def _client(tmp_path: Path, database_url: str, **changes: Any) -> TestClient:
    settings = fast_settings(
        tmp_path / "data",
        database_url,
        admin_token=ADMIN,
        extra={"models": [PREMIUM_MODEL]},
        **changes,
    )
    return TestClient(create_app(settings))


@pytest.fixture
def limited(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    with _client(tmp_path, database_url, free_requests_per_minute=3) as client:
        yield client


def _key(client: TestClient, account: dict[str, str], perms: list[str] | None = None) -> str:
    body: dict[str, Any] = {"name": "k"}
    if perms is not None:
        body["permissions"] = perms
    return str(client.post(f"{V1}/keys", json=body, headers=auth(account)).json()["key"])


def _chat(client: TestClient, secret: str, model: str = "demo/serika-chat", **extra: Any) -> Any:
    return client.post(
        f"{V1}/chat/completions",
        headers=bearer(secret),
        json={"model": model, "messages": [{"role": "user", "content": "count to five"}], **extra},
    )


def test_requests_per_key_with_openai_headers(limited: TestClient) -> None:
    account = new_account(limited)
    secret, other = _key(limited, account), _key(limited, account)
    away_from_window_edge()
    answers = [limited.get(f"{V1}/models", headers=bearer(secret)) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.headers["x-ratelimit-remaining-requests"] for a in answers] == ["2", "1", "0"]
    assert answers[0].headers["x-ratelimit-limit-requests"] == "3"
    assert answers[0].headers["x-ratelimit-reset-requests"].endswith("s")
    refused = limited.get(f"{V1}/models", headers=bearer(secret))
    assert refused.status_code == 429
    error = error_of(refused)
    assert (error["type"], error["code"]) == ("rate_limit_error", "rate_limit_exceeded")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert limited.get(f"{V1}/models", headers=bearer(other)).status_code == 200  # per key


def test_free_accounts_cannot_use_premium_models_until_moved(limited: TestClient) -> None:
    account = new_account(limited)
    secret = _key(limited, account)
    r = _chat(limited, secret, model="demo/premium-chat")
    assert r.status_code == 402
    error = error_of(r)
    assert (error["type"], error["code"]) == ("insufficient_quota", "premium_model")
    moved = limited.post(
        "/api/admin/users/tier",
        json={"email": account["email"], "tier": "premium"},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert moved.status_code == 200 and moved.json()["tier"] == "premium"
    r = _chat(limited, secret, model="demo/premium-chat")
    assert r.status_code == 200  # the cached credential learnt the new tier at once
    assert (
        limited.get(f"{V1}/user", headers=bearer(_key(limited, account, ["user_info"]))).json()[
            "tier"
        ]
        == "premium"
    )


def test_the_admin_api_needs_its_token(limited: TestClient) -> None:
    account = new_account(limited)
    body = {"email": account["email"], "tier": "premium"}
    assert limited.post("/api/admin/users/tier", json=body).status_code == 401
    r = limited.post("/api/admin/users/tier", json=body, headers={"Authorization": "Bearer x"})
    assert r.status_code == 401
    r = limited.post(
        "/api/admin/users/tier",
        json={**body, "tier": "gold"},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert r.status_code == 400 and error_of(r)["param"] == "tier"


def test_monthly_allowance(tmp_path: Path, database_url: str) -> None:
    with _client(tmp_path, database_url, free_monthly_tokens=60) as client:
        account = new_account(client)
        secret = _key(client, account)
        served = 0
        statuses = []
        for _ in range(8):
            r = _chat(client, secret, max_tokens=5)
            statuses.append(r.status_code)
            if r.status_code == 200:
                served += r.json()["usage"]["total_tokens"]
        refused = _chat(client, secret, max_tokens=5)
        assert refused.status_code == 402
        error = error_of(refused)
        assert (error["type"], error["code"]) == ("insufficient_quota", "usage_limit_reached")
        assert statuses.count(200) >= 1 and 402 in statuses
        # at most one request's worth over the allowance
        assert served <= 60 + 15
        report = client.get(f"{V1}/usage", headers=auth(account)).json()
        assert report["summary"]["total_tokens"] == served
        limits = report["limits"]
        assert limits["monthly_tokens"] == 60 and limits["monthly_tokens_left"] == max(
            0, 60 - served
        )
        # other accounts are untouched
        assert _chat(client, _key(client, new_account(client)), max_tokens=5).status_code == 200


def test_premium_spending_limit(tmp_path: Path, database_url: str) -> None:
    with _client(tmp_path, database_url) as client:
        account = new_account(client)
        client.post(
            "/api/admin/users/tier",
            json={"email": account["email"], "tier": "premium"},
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        r = client.patch(
            "/api/auth/user", json={"monthly_spending_limit": 30}, headers=auth(account)
        )
        assert r.status_code == 200 and r.json()["monthly_spending_limit"] == 30
        secret = _key(client, account)
        # each call costs about $1 per token here: the cap lets a few through, then refuses
        codes = [
            _chat(client, secret, model="demo/premium-chat", max_tokens=3).status_code
            for _ in range(6)
        ]
        assert codes[0] == 200 and codes[-1] == 402
        r = _chat(client, secret, model="demo/premium-chat", max_tokens=3)
        assert error_of(r)["code"] == "usage_limit_reached"
        report = client.get(f"{V1}/usage", headers=auth(account)).json()
        assert report["summary"]["cost"] <= 30 + 15  # at most one request over
        client.patch("/api/auth/user", json={"monthly_spending_limit": None}, headers=auth(account))
        assert _chat(client, secret, model="demo/premium-chat", max_tokens=3).status_code == 200
        for bad in (-1, "ten", True):
            r = client.patch(
                "/api/auth/user", json={"monthly_spending_limit": bad}, headers=auth(account)
            )
            assert r.status_code == 400


def test_refused_requests_cost_nothing(limited: TestClient) -> None:
    account = new_account(limited)
    secret = _key(limited, account)
    assert _chat(limited, secret, model="demo/premium-chat").status_code == 402
    report = limited.get(f"{V1}/usage", headers=auth(account)).json()
    assert report["summary"]["total_tokens"] == 0 and report["summary"]["cost"] == 0


def test_user_shows_tier_allowance_used_and_left(limited: TestClient) -> None:
    account = new_account(limited)
    secret = _key(limited, account, ["user_info", "text_generation"])
    used = _chat(limited, secret, max_tokens=4).json()["usage"]["total_tokens"]
    limits = limited.get(f"{V1}/user", headers=bearer(secret)).json()["limits"]
    assert limits["tier"] == "free" and limits["requests_per_minute"] == 3
    assert limits["monthly_tokens"] == 1_000_000
    assert limits["monthly_tokens_used"] == used
    assert limits["monthly_tokens_left"] == 1_000_000 - used


def test_a_chunked_body_over_the_size_limit_is_refused_even_when_it_arrived_whole() -> None:
    """Under Serika's protocol a body that arrived whole can be taken in one piece; one
    without a length must still be counted, so BodySizeLimit withholds that shortcut."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        whole_body = scope.get("extensions", {}).get(BODY_EXTENSION)
        body = whole_body() if whole_body is not None else None
        how = b"whole"
        try:
            if body is None:
                how, body = b"received", await read_body(receive)
        except SerikaError as error:  # as the app's exception handlers answer it
            await error_response(error)(scope, receive, send)
            return
        await answer(send, 200, b"%s %d" % (how, len(body)))

    async def scenario(port: int) -> None:
        reader, writer = await connect(port)
        writer.write(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789")
        assert (await read_answer(reader))[2] == b"whole 10"
        writer.write(
            b"POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"c\r\n0123456789ab\r\n0\r\n\r\n"
        )
        status, _, body = await read_answer(reader)
        assert status == b"HTTP/1.1 413 Request Entity Too Large", body
        assert orjson.loads(body)["error"]["code"] == "request_too_large"
        writer.write(b"POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n0123456789a")
        assert (await read_answer(reader))[0] == b"HTTP/1.1 413 Request Entity Too Large"
        writer.close()

    run(BodySizeLimit(app, max_bytes=10), scenario)
