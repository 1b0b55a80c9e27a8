"""Text generation through the offline demo provider, in process: shapes, streams, errors."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from tests.support.api import auth, bearer, error_of, new_account

V1 = "/api/openai/v1"
DEMO = "demo/serika-chat"


@pytest.fixture
def secret(client: TestClient) -> str:
    account = new_account(client)
    r = client.post(
        f"{V1}/keys", json={"name": "t", "permissions": ["text_generation"]}, headers=auth(account)
    )
    return str(r.json()["key"])


def _chat(client: TestClient, secret: str, **body: Any) -> Any:
    return client.post(f"{V1}/chat/completions", json=body, headers=bearer(secret))


def _events(raw: str) -> list[Any]:
    events = []
    for block in raw.split("\n\n"):
        if block.startswith("data: "):
            data = block[len("data: ") :]
            events.append(data if data == "[DONE]" else orjson.loads(data))
    return events


def test_chat_answers_from_the_conversation(client: TestClient, secret: str) -> None:
    r = _chat(
        client,
        secret,
        model=DEMO,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Tell me about lighthouses and seagulls"},
        ],
    )
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "chat.completion" and body["model"] == DEMO
    text = body["choices"][0]["message"]["content"]
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert "lighthouses" in text or "seagulls" in text
    usage = body["usage"]
    assert usage["completion_tokens"] == len(text.split())
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    other = _chat(
        client,
        secret,
        model=DEMO,
        messages=[{"role": "user", "content": "Explain volcanoes to a child"}],
    )
    assert other.json()["choices"][0]["message"]["content"] != text


def test_max_tokens_limits_the_answer(client: TestClient, secret: str) -> None:
    r = _chat(
        client,
        secret,
        model=DEMO,
        max_tokens=3,
        messages=[{"role": "user", "content": "a long story about dragons please"}],
    )
    choice = r.json()["choices"][0]
    assert len(choice["message"]["content"].split()) == 3
    assert choice["finish_reason"] == "length"


def test_stream_word_by_word_ending_in_done(client: TestClient, secret: str) -> None:
    r = _chat(
        client,
        secret,
        model=DEMO,
        stream=True,
        messages=[{"role": "user", "content": "stream about rivers"}],
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = _events(r.text)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == DEMO for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    words = [c["choices"][0]["delta"].get("content", "") for c in chunks]
    assert len([w for w in words if w]) > 5
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all("usage" not in c for c in chunks)  # not asked for


def test_stream_with_include_usage(client: TestClient, secret: str) -> None:
    r = _chat(
        client,
        secret,
        model=DEMO,
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "count the stars"}],
    )
    events = _events(r.text)
    last = events[-2]
    assert last["choices"] == [] and last["usage"]["completion_tokens"] > 0
    text = "".join(
        c["choices"][0]["delta"].get("content") or "" for c in events[:-2] if c["choices"]
    )
    assert last["usage"]["completion_tokens"] == len(text.split())


def test_completions_and_generate_text(client: TestClient, secret: str) -> None:
    r = client.post(
        f"{V1}/completions",
        json={"model": DEMO, "prompt": "Once upon a time"},
        headers=bearer(secret),
    )
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "text_completion" and body["choices"][0]["text"]
    r = client.post(
        f"{V1}/generate/text", json={"prompt": "Write about owls"}, headers=bearer(secret)
    )
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "text_completion" and body["model"] == DEMO
    assert body["usage"]["total_tokens"] > 0 and body["choices"][0]["text"]
    r = client.post(
        f"{V1}/completions",
        json={"model": DEMO, "prompt": "tick", "stream": True},
        headers=bearer(secret),
    )
    events = _events(r.text)
    assert events[-1] == "[DONE]" and events[0]["object"] == "text_completion"


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, 400, "missing_parameter", "model"),
        ({"model": 5, "messages": []}, 400, "invalid_parameter", "model"),
        ({"model": DEMO}, 400, "missing_parameter", "messages"),
        ({"model": DEMO, "messages": []}, 400, "invalid_parameter", "messages"),
        ({"model": DEMO, "messages": "hi"}, 400, "invalid_parameter", "messages"),
        (
            {"model": DEMO, "messages": [{"role": "wizard", "content": "x"}]},
            400,
            "invalid_parameter",
            "messages[0].role",
        ),
        (
            {"model": DEMO, "messages": [{"role": "user"}]},
            400,
            "missing_parameter",
            "messages[0].content",
        ),
        (
            {"model": DEMO, "messages": [{"role": "user", "content": 7}]},
            400,
            "invalid_parameter",
            "messages[0].content",
        ),
        (
            {"model": DEMO, "messages": [{"role": "user", "content": "x"}], "stream": "yes"},
            400,
            "invalid_parameter",
            "stream",
        ),
        (
            {"model": DEMO, "messages": [{"role": "user", "content": "x"}], "max_tokens": 0},
            400,
            "invalid_parameter",
            "max_tokens",
        ),
        (
            {"model": DEMO, "messages": [{"role": "user", "content": "x"}], "temperature": 3},
            400,
            "invalid_parameter",
            "temperature",
        ),
        (
            {"model": "nope/nothing", "messages": [{"role": "user", "content": "x"}]},
            404,
            "model_not_found",
            "model",
        ),
        (
            {"model": "demo/serika-image", "messages": [{"role": "user", "content": "x"}]},
            400,
            "invalid_parameter",
            "model",
        ),
        (
            {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]},
            503,
            "provider_not_configured",
            "model",
        ),
    ],
)
def test_bad_requests(
    client: TestClient, secret: str, body: dict[str, Any], status: int, code: str, param: str
) -> None:
    r = _chat(client, secret, **body)
    assert r.status_code == status, r.text
    error = error_of(r)
    assert (error["code"], error["param"]) == (code, param)


def test_text_needs_text_generation(client: TestClient) -> None:
    account = new_account(client)
    r = client.post(
        f"{V1}/keys", json={"name": "t", "permissions": ["user_info"]}, headers=auth(account)
    )
    secret = r.json()["key"]
    for path in ("/chat/completions", "/completions", "/generate/text"):
        r = client.post(V1 + path, json={"model": DEMO, "prompt": "x"}, headers=bearer(secret))
        assert r.status_code == 403
        assert "text_generation" in error_of(r)["message"]
