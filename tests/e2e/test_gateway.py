"""The text gateway end to end: the official SDKs -> the real server -> a fake upstream process.

One server per backend, configured with OpenRouter, Azure and a named OpenAI-compatible
provider that all point at the fake upstream, plus a provider whose server is gone.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.support import upstream as fake_support
from tests.support.api import auth, new_account
from tests.support.databases import DatabaseFactory
from tests.support.server import ServerProcess, free_port
from tests.support.upstream import FakeUpstream

pytestmark = pytest.mark.e2e

fake_upstream_process = fake_support.fake_upstream_process
fake_upstream = fake_support.fake_upstream

OPENROUTER_KEY = "sk-or-v1-operator-secret-0123456789"
AZURE_KEY = "azure-operator-secret-abcdef"
NODE_DIR = Path(__file__).resolve().parent / "node"


@pytest.fixture(scope="module")
def server(
    database_factory: DatabaseFactory,
    tmp_path_factory: pytest.TempPathFactory,
    fake_upstream_process: FakeUpstream,
) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp(f"gateway-{database_factory.backend}")
    config = root / "serika.toml"
    config.write_text(
        f"""
[providers.local]
base_url = "{fake_upstream_process.base_url}"

[providers.deadend]
base_url = "http://127.0.0.1:{free_port()}/v1"
api_key = "deadend-secret"

[[models]]
id = "local/llama3"
name = "Llama 3 (local)"
type = "text"
tier = "free"
provider = "local"
upstream_id = "llama3:8b"

[[models]]
id = "dead/model"
name = "Gone"
type = "text"
tier = "free"
provider = "deadend"

[[models]]
id = "openai/unconfigured"
name = "Needs OpenAI"
type = "text"
tier = "free"
provider = "openai"
"""
    )
    env = {
        "SERIKA_CONFIG": str(config),
        "SERIKA_OPENROUTER_API_KEY": OPENROUTER_KEY,
        "SERIKA_OPENROUTER_BASE_URL": fake_upstream_process.base_url,
        "SERIKA_AZURE_API_KEY": AZURE_KEY,
        "SERIKA_AZURE_ENDPOINT": fake_upstream_process.root_url,
        "SERIKA_AZURE_API_VERSION": "2024-10-21",
        "SERIKA_UPSTREAM_READ_TIMEOUT": "1.5",
    }
    with ServerProcess(root / "data", database_factory.new(root / "db"), env=env) as running:
        yield running
        log = running.log_text()
    assert "Traceback" not in log, log
    for secret in (OPENROUTER_KEY, AZURE_KEY):
        assert secret not in log


@pytest.fixture(scope="module")
def account(server: ServerProcess) -> dict[str, Any]:
    with httpx.Client(base_url=server.base_url, timeout=30) as web:
        account: dict[str, Any] = new_account(web, "gateway")
        for name, perms in [("text", ["text_generation", "user_info"]), ("none", ["user_info"])]:
            r = web.post(
                "/api/openai/v1/keys",
                json={"name": name, "permissions": perms},
                headers=auth(account),
            )
            account[name] = r.json()["key"]
    return account


@pytest.fixture
def client(server: ServerProcess, account: dict[str, Any]) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=account["text"],
        base_url=f"{server.base_url}/api/openai/v1",
        max_retries=0,
        timeout=20,
    )


def _caller_key_absent(record: dict[str, Any], key: str) -> None:
    assert key not in json.dumps(record)


def test_the_seed_example(
    client: openai.OpenAI, fake_upstream: FakeUpstream, account: dict[str, Any]
) -> None:
    answer = client.chat.completions.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Hello!"}]
    )
    assert answer.choices[0].message.content == "Echo: Hello!"
    assert answer.model == "openai/gpt-4o-mini"
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (1, 2)
    (seen,) = fake_upstream.requests()
    assert seen["path"] == "/v1/chat/completions"
    assert seen["body"]["model"] == "openai/gpt-4o-mini"
    assert seen["headers"]["authorization"] == f"Bearer {OPENROUTER_KEY}"
    _caller_key_absent(seen, account["text"])


def test_routing_maps_to_the_upstream_model_id(
    client: openai.OpenAI, fake_upstream: FakeUpstream
) -> None:
    legacy = client.chat.completions.create(
        model="euryale-70b", messages=[{"role": "user", "content": "hi"}]
    )
    assert legacy.model == "euryale-70b"
    local = client.chat.completions.create(
        model="local/llama3", messages=[{"role": "user", "content": "hi"}]
    )
    assert local.model == "local/llama3"
    first, second = fake_upstream.requests()
    assert first["body"]["model"] == "sao10k/l3.3-euryale-70b"
    assert second["body"]["model"] == "llama3:8b"
    assert "authorization" not in second["headers"]  # the local provider has no key


def test_azure_deployment_url_and_api_key_header(
    client: openai.OpenAI, fake_upstream: FakeUpstream, account: dict[str, Any]
) -> None:
    answer = client.chat.completions.create(
        model="gpt-4.1", messages=[{"role": "user", "content": "via azure"}]
    )
    assert answer.choices[0].message.content == "Echo: via azure"
    assert answer.model == "gpt-4.1"
    (seen,) = fake_upstream.requests()
    assert seen["path"] == "/openai/deployments/gpt-4.1/chat/completions"
    assert seen["api_version"] == "2024-10-21"
    assert seen["headers"]["api-key"] == AZURE_KEY
    assert "authorization" not in seen["headers"]
    _caller_key_absent(seen, account["text"])


def test_async_client_and_passthrough_fields(
    server: ServerProcess, account: dict[str, Any], fake_upstream: FakeUpstream
) -> None:
    async def run() -> Any:
        async with openai.AsyncOpenAI(
            api_key=account["text"], base_url=f"{server.base_url}/v1", max_retries=0
        ) as client:
            return await client.chat.completions.create(
                model="openai/gpt-4o-mini",
                messages=[{"role": "user", "content": "async hello"}],
                temperature=0.3,
                tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
                extra_body={"top_k": 7, "transforms": ["middle-out"]},
            )

    answer = asyncio.run(run())
    assert answer.choices[0].message.content == "Echo: async hello"
    (seen,) = fake_upstream.requests()
    body = seen["body"]
    assert body["temperature"] == 0.3 and body["top_k"] == 7
    assert body["transforms"] == ["middle-out"] and body["tools"][0]["function"]["name"] == "f"


def test_streaming_forwards_every_chunk_and_usage(
    client: openai.OpenAI, fake_upstream: FakeUpstream
) -> None:
    stream = client.chat.completions.create(
        model="openai/gpt-4o-mini",
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "#chunks=12"}],
    )
    pieces, usage, models = [], None, set()
    for chunk in stream:
        models.add(chunk.model)
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.usage:
            usage = chunk.usage
    assert "".join(pieces) == " ".join(f"word{n}" for n in range(12))
    assert len(pieces) == 12
    assert models == {"openai/gpt-4o-mini"}
    assert usage is not None and usage.completion_tokens == 12
    (seen,) = fake_upstream.requests()
    assert seen["body"]["stream"] is True and seen["completed"]


def test_stream_without_include_usage_still_meters_but_hides_usage(
    client: openai.OpenAI, fake_upstream: FakeUpstream
) -> None:
    stream = client.chat.completions.create(
        model="openai/gpt-4o-mini",
        stream=True,
        messages=[{"role": "user", "content": "#chunks=3"}],
    )
    chunks = list(stream)
    assert all(c.usage is None for c in chunks) and all(c.choices for c in chunks)
    (seen,) = fake_upstream.requests()
    assert seen["body"]["stream_options"] == {"include_usage": True}  # asked upstream anyway


@pytest.mark.parametrize(
    ("content", "exception", "status", "code"),
    [
        ("#status=400", openai.BadRequestError, 400, "fake_code"),
        ("#status=429", openai.RateLimitError, 429, "fake_code"),
        ("#status=401", openai.APIStatusError, 502, "upstream_error"),
        ("#status=500", openai.InternalServerError, 502, "upstream_error"),
        ("#status=503", openai.InternalServerError, 502, "upstream_error"),
        ("#garbage", openai.InternalServerError, 502, "upstream_error"),
        ("#drop=0", openai.InternalServerError, 502, "upstream_error"),
        ("#delay=3", openai.InternalServerError, 504, "upstream_timeout"),
    ],
)
def test_upstream_failures_map_to_clear_errors(
    client: openai.OpenAI,
    fake_upstream: FakeUpstream,
    content: str,
    exception: type[openai.APIStatusError],
    status: int,
    code: str,
) -> None:
    with pytest.raises(exception) as caught:
        client.chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": content}]
        )
    error = caught.value
    assert error.status_code == status
    assert error.code == code
    text = error.response.text
    assert "fake-upstream.internal" not in text and OPENROUTER_KEY not in text
    assert fake_upstream.base_url not in text and "127.0.0.1" not in text


@pytest.mark.parametrize(
    ("model", "messages", "exception", "status", "code", "param"),
    [
        (
            "dead/model",
            [{"role": "user", "content": "x"}],
            openai.APIStatusError,
            502,
            "upstream_error",
            None,
        ),
        (
            "openai/unconfigured",
            [{"role": "user", "content": "x"}],
            openai.APIStatusError,
            503,
            "provider_not_configured",
            "model",
        ),
        (
            "no/such-model",
            [{"role": "user", "content": "x"}],
            openai.NotFoundError,
            404,
            "model_not_found",
            "model",
        ),
        (
            "openai/gpt-4o-mini",
            [{"role": "robot", "content": "x"}],
            openai.BadRequestError,
            400,
            "invalid_parameter",
            "messages[0].role",
        ),
    ],
)
def test_gateway_errors_before_any_upstream_call(
    client: openai.OpenAI,
    fake_upstream: FakeUpstream,
    model: str,
    messages: Any,
    exception: type[openai.APIStatusError],
    status: int,
    code: str,
    param: str | None,
) -> None:
    with pytest.raises(exception) as caught:
        client.chat.completions.create(model=model, messages=messages)
    assert caught.value.status_code == status
    body = caught.value.body
    assert isinstance(body, dict) and body["code"] == code and body["param"] == param
    assert "deadend-secret" not in caught.value.response.text
    assert fake_upstream.requests() == []


def test_missing_permission_is_403_before_any_upstream_call(
    server: ServerProcess, account: dict[str, Any], fake_upstream: FakeUpstream
) -> None:
    client = openai.OpenAI(api_key=account["none"], base_url=f"{server.base_url}/v1", max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client.chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.code == "insufficient_permissions"
    assert fake_upstream.requests() == []


def test_a_drop_mid_stream_reaches_the_caller_as_an_error(
    client: openai.OpenAI, fake_upstream: FakeUpstream
) -> None:
    pieces = []
    with pytest.raises(openai.APIError):
        stream = client.chat.completions.create(
            model="openai/gpt-4o-mini",
            stream=True,
            messages=[{"role": "user", "content": "#chunks=10 #drop=3"}],
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
    assert pieces == ["word0", " word1", " word2"]


def test_caller_disconnect_mid_stream_cancels_the_upstream_request(
    server: ServerProcess, account: dict[str, Any], fake_upstream: FakeUpstream
) -> None:
    body = {
        "model": "openai/gpt-4o-mini",
        "stream": True,
        "messages": [{"role": "user", "content": "#chunks=200 #chunk_delay=0.05"}],
    }
    with (
        httpx.Client(base_url=server.base_url, timeout=10) as web,
        web.stream(
            "POST",
            "/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {account['text']}"},
        ) as response,
    ):
        assert response.status_code == 200
        seen = 0
        for line in response.iter_lines():
            if line.startswith("data: "):
                seen += 1
            if seen >= 3:
                break
    record = fake_upstream.wait_for(lambda r: r["disconnected"], timeout=5)
    assert record["chunks_sent"] < 100


def account_with_key(web: httpx.Client, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    account = new_account(web, name)
    key = web.post("/api/openai/v1/keys", json={"name": name}, headers=auth(account)).json()
    return account, key


def first_usage_summary(web: httpx.Client, account: dict[str, Any]) -> dict[str, Any]:
    """The account's usage summary once its first request is metered (written off the
    request path, so it may take a moment)."""
    summary: dict[str, Any] = {}
    for _ in range(50):
        summary = web.get("/api/openai/v1/usage", headers=auth(account)).json()["summary"]
        if summary["total_requests"]:
            break
        time.sleep(0.1)
    return summary


def test_caller_leaving_before_a_slow_answer_cancels_the_upstream_request(
    server: ServerProcess, fake_upstream: FakeUpstream
) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10) as web:
        account, key = account_with_key(web, "impatient")
        body = {
            "model": "openai/gpt-4o-mini",
            "messages": [{"role": "user", "content": "#delay=1.2 slow answer"}],
        }
        with pytest.raises(httpx.ReadTimeout):  # the caller gives up and closes the connection
            web.post(
                "/v1/chat/completions",
                json=body,
                headers={"Authorization": f"Bearer {key['key']}"},
                timeout=0.3,
            )
        record = fake_upstream.wait_for(
            lambda r: "slow answer" in str(r["body"]) and r["disconnected"], timeout=5
        )
        assert record["disconnected"]
        summary = first_usage_summary(web, account)
    assert (summary["total_requests"], summary["failed_requests"]) == (1, 1)


def test_a_stream_the_caller_left_is_metered_once_as_failed(
    server: ServerProcess, fake_upstream: FakeUpstream
) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10) as web:
        account, key = account_with_key(web, "leaver")
        body = {
            "model": "openai/gpt-4o-mini",
            "stream": True,
            "messages": [{"role": "user", "content": "#chunks=200 #chunk_delay=0.05"}],
        }
        with web.stream(
            "POST",
            "/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {key['key']}"},
        ) as response:
            for line in response.iter_lines():
                if line.startswith("data: ") and "word1" in line:
                    break
        fake_upstream.wait_for(lambda r: r["disconnected"], timeout=5)
        summary = first_usage_summary(web, account)
    assert (summary["total_requests"], summary["failed_requests"]) == (1, 1)


def test_legacy_completions_and_generate_text(
    client: openai.OpenAI,
    server: ServerProcess,
    account: dict[str, Any],
    fake_upstream: FakeUpstream,
) -> None:
    completion = client.completions.create(model="openai/gpt-4o-mini", prompt="Say this")
    assert completion.choices[0].text == "Echo: Say this"
    assert completion.model == "openai/gpt-4o-mini"
    r = httpx.post(
        f"{server.base_url}/api/openai/v1/generate/text",
        json={"prompt": "legacy", "model": "openai/gpt-4o-mini", "max_tokens": 50},
        headers={"Authorization": account["text"]},
        timeout=20,
    )
    assert r.status_code == 200
    assert r.json()["choices"][0]["text"] == "Echo: legacy"
    assert r.json()["object"] == "text_completion"
    first, second = fake_upstream.requests()
    assert first["path"] == "/v1/completions" and second["path"] == "/v1/chat/completions"
    assert second["body"]["max_tokens"] == 50


def test_usage_rows_match_the_requests_made(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as web:
        account = new_account(web, "metered")
        r = web.post("/api/openai/v1/keys", json={"name": "m"}, headers=auth(account))
        key = r.json()
    client = openai.OpenAI(api_key=key["key"], base_url=f"{server.base_url}/v1", max_retries=0)
    prompt = completion = 0
    for text in ("one two three", "four five"):
        answer = client.chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": text}]
        )
        assert answer.usage is not None
        prompt += answer.usage.prompt_tokens
        completion += answer.usage.completion_tokens
    for _chunk in client.chat.completions.create(
        model="openai/gpt-4o-mini",
        stream=True,
        messages=[{"role": "user", "content": "#chunks=4"}],
    ):
        pass
    prompt += 1
    completion += 4
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "#status=400"}]
        )
    nousage = client.chat.completions.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "#nousage words"}]
    )
    assert nousage.usage is None
    with httpx.Client(base_url=server.base_url, timeout=30) as web:
        report = web.get("/api/openai/v1/usage", headers=auth(account)).json()
    summary = report["summary"]
    assert summary["total_requests"] == 5
    assert (summary["successful_requests"], summary["failed_requests"]) == (4, 1)
    # four exact from the provider, plus one estimated from characters
    assert summary["prompt_tokens"] > prompt and summary["completion_tokens"] > completion
    assert summary["cost"] > 0
    assert report["by_key"][0]["key_id"] == key["id"]
    assert report["by_endpoint"][0]["endpoint"] == "/chat/completions"


def test_the_node_sdk_chats_and_streams(server: ServerProcess, account: dict[str, Any]) -> None:
    result = subprocess.run(
        ["node", str(NODE_DIR / "chat.mjs")],
        env={
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "SERIKA_API_KEY": account["text"],
            "SERIKA_BASE_URL": f"{server.base_url}/api/openai/v1",
            "SERIKA_MODEL": "openai/gpt-4o-mini",
            "SERIKA_PROMPT": "Hello from node",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["chat"]["content"] == "Echo: Hello from node"
    assert out["chat"]["model"] == "openai/gpt-4o-mini"
    assert out["stream"]["content"] == "Echo: Hello from node"
    assert out["stream"]["usage"]["completion_tokens"] == 4
    assert out["error"] == {
        "status": 404,
        "code": "model_not_found",
        "type": "invalid_request_error",
    }


def test_character_persona_reaches_the_provider_but_never_the_caller(
    server: ServerProcess,
    client: openai.OpenAI,
    account: dict[str, Any],
    fake_upstream: FakeUpstream,
) -> None:
    hidden = "HIDDEN-PERSONA-PROMPT-7f3a"
    with httpx.Client(base_url=server.base_url, timeout=30) as web:
        r = web.post(
            "/api/characters",
            headers=auth(account),
            json={
                "name": "Vesper",
                "system_prompt": hidden,
                "personality": "wry",
                "starter_message": "Evening.",
                "is_public": False,
            },
        )
        character = r.json()
    messages = [
        {"role": "system", "content": "Reply briefly."},
        {"role": "user", "content": "Who are you?"},
    ]
    answer = client.chat.completions.create(
        model="openai/gpt-4o-mini",
        messages=messages,  # type: ignore[arg-type]
        extra_body={"character_id": character["id"]},
    )
    stream = client.chat.completions.create(
        model="openai/gpt-4o-mini",
        messages=messages,
        stream=True,  # type: ignore[arg-type]
        extra_body={"character_id": character["id"]},
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert answer.choices[0].message.content == "Echo: Who are you?" == streamed
    for seen in fake_upstream.requests():
        sent = seen["body"]["messages"]
        assert [m["role"] for m in sent] == ["system", "system", "assistant", "user"]
        assert sent[0]["content"].startswith(hidden) and "wry" in sent[0]["content"]
        assert sent[1]["content"] == "Reply briefly." and sent[2]["content"] == "Evening."
        assert "character_id" not in seen["body"]
    assert hidden not in answer.model_dump_json()
