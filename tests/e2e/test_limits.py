"""Limits end to end, on both counter backends (in process, Redis), with real server processes."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.support.api import auth, away_from_window_edge, new_account
from tests.support.redis import redis_url
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

CHAT = {
    "model": "demo/serika-chat",
    "max_tokens": 5,
    "messages": [{"role": "user", "content": "count to five"}],
}
PER_REQUEST = 4 + 5  # "count to five" is 13 characters (4 tokens) + 5 completion tokens


@pytest.fixture(params=["in-process", "redis"])
def counters_env(request: pytest.FixtureRequest) -> dict[str, str]:
    env = {"SERIKA_DEMO_WORD_DELAY_SECONDS": "0"}
    if request.param == "redis":
        env["SERIKA_REDIS_URL"] = redis_url()
    return env


def _account_and_key(server: ServerProcess) -> tuple[dict[str, str], str]:
    with httpx.Client(base_url=server.base_url, timeout=30) as web:
        account = new_account(web, "limited")
        r = web.post("/api/openai/v1/keys", json={"name": "k"}, headers=auth(account))
        return account, str(r.json()["key"])


def test_fifty_concurrent_requests_against_room_for_ten(
    tmp_path: Path, database_url: str, counters_env: dict[str, str]
) -> None:
    env = {**counters_env, "SERIKA_FREE_MONTHLY_TOKENS": str(10 * PER_REQUEST)}
    with ServerProcess(tmp_path / "data", database_url, env=env) as server:
        account, key = _account_and_key(server)

        async def fire() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
                return await asyncio.gather(
                    *(
                        client.post(
                            "/v1/chat/completions",
                            json=CHAT,
                            headers={"Authorization": f"Bearer {key}"},
                        )
                        for _ in range(50)
                    )
                )

        answers = asyncio.run(fire())
        ok = [a for a in answers if a.status_code == 200]
        refused = [a for a in answers if a.status_code != 200]
        assert 10 <= len(ok) <= 11  # 10, plus at most the documented one-request margin
        assert {a.status_code for a in refused} == {402}
        assert {a.json()["error"]["code"] for a in refused} == {"usage_limit_reached"}
        served = sum(a.json()["usage"]["total_tokens"] for a in ok)
        with httpx.Client(base_url=server.base_url, timeout=30) as web:
            report = web.get("/api/openai/v1/usage", headers=auth(account)).json()
        assert report["summary"]["total_tokens"] == served
        assert report["summary"]["successful_requests"] == len(ok)
        assert report["limits"]["monthly_tokens_left"] == max(0, 10 * PER_REQUEST - served)


def test_the_sdk_retries_a_429_and_succeeds(
    tmp_path: Path, database_url: str, counters_env: dict[str, str]
) -> None:
    env = {
        **counters_env,
        "SERIKA_RATE_WINDOW_SECONDS": "1",
        "SERIKA_FREE_REQUESTS_PER_MINUTE": "60",
    }  # one request per one-second window
    with ServerProcess(tmp_path / "data", database_url, env=env) as server:
        account, key = _account_and_key(server)
        raw = httpx.get(f"{server.base_url}/v1/models", headers={"Authorization": f"Bearer {key}"})
        assert raw.status_code == 200  # the key's first request in its window
        assert raw.headers["x-ratelimit-limit-requests"] == "1"
        client = openai.OpenAI(api_key=key, base_url=f"{server.base_url}/v1", max_retries=4)
        for _ in range(3):
            assert client.models.list().data  # each call may be refused once, then retried
        no_retry = openai.OpenAI(api_key=key, base_url=f"{server.base_url}/v1", max_retries=0)
        with pytest.raises(openai.RateLimitError) as caught:
            for _ in range(3):
                no_retry.models.list()
        assert caught.value.code == "rate_limit_exceeded"
        assert int(caught.value.response.headers["retry-after"]) >= 1
        with httpx.Client(base_url=server.base_url, timeout=30) as web:
            report = web.get("/api/openai/v1/usage", headers=auth(account)).json()
        assert report["summary"]["failed_requests"] >= 1  # the refusals, at no cost
        assert report["summary"]["cost"] == 0


def test_premium_models_refused_to_free_accounts(
    tmp_path: Path, database_url: str, counters_env: dict[str, str]
) -> None:
    config = tmp_path / "serika.toml"
    config.write_text(
        '[[models]]\nid = "demo/premium-chat"\nname = "P"\ntype = "text"\n'
        'tier = "premium"\nprovider = "demo"\n'
    )
    env = {**counters_env, "SERIKA_CONFIG": str(config)}
    with ServerProcess(tmp_path / "data", database_url, env=env) as server:
        _, key = _account_and_key(server)
        client = openai.OpenAI(api_key=key, base_url=f"{server.base_url}/v1", max_retries=0)
        with pytest.raises(openai.APIStatusError) as caught:
            client.chat.completions.create(
                model="demo/premium-chat", messages=[{"role": "user", "content": "hi"}]
            )
        assert caught.value.status_code == 402
        assert caught.value.code == "premium_model"


def test_two_processes_sharing_redis_enforce_one_limit(tmp_path: Path, database_url: str) -> None:
    env = {
        "SERIKA_REDIS_URL": redis_url(),
        "SERIKA_SECRET_KEY": secrets.token_hex(32),
        "SERIKA_FREE_REQUESTS_PER_MINUTE": "5",
    }
    with (
        ServerProcess(tmp_path / "a", database_url, env=env) as first,
        ServerProcess(tmp_path / "b", database_url, env=env, migrate=False) as second,
    ):
        _, key = _account_and_key(first)
        headers = {"Authorization": f"Bearer {key}"}
        away_from_window_edge()
        codes: list[Any] = []
        for n in range(8):
            server = first if n % 2 == 0 else second
            codes.append(httpx.get(f"{server.base_url}/v1/models", headers=headers).status_code)
        assert codes.count(200) == 5
        assert codes[5:] == [429, 429, 429]
