"""`make run`, nothing configured: the demo model answers the SDK, streams, is metered."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.support.api import auth, new_account
from tests.support.databases import DatabaseFactory
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

DEMO = "demo/serika-chat"


@pytest.fixture(scope="module")
def server(
    database_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp(f"offline-{database_factory.backend}")
    env = {"SERIKA_DEMO_WORD_DELAY_SECONDS": "0.001"}
    with ServerProcess(root / "data", database_factory.new(root / "db"), env=env) as running:
        yield running


def test_demo_chat_stream_and_usage(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as web:
        account = new_account(web, "offline")
        key: dict[str, Any] = web.post(
            "/api/openai/v1/keys", json={"name": "demo"}, headers=auth(account)
        ).json()
    client = openai.OpenAI(
        api_key=key["key"], base_url=f"{server.base_url}/api/openai/v1", max_retries=0
    )
    assert DEMO in {m.id for m in client.models.list()}

    answer = client.chat.completions.create(
        model=DEMO, messages=[{"role": "user", "content": "Tell me about mountains and rain"}]
    )
    text = answer.choices[0].message.content or ""
    assert answer.model == DEMO and len(text.split()) > 5
    assert "mountains" in text or "rain" in text
    assert answer.usage is not None and answer.usage.completion_tokens == len(text.split())

    stream = client.chat.completions.create(
        model=DEMO,
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Tell me about mountains and rain"}],
    )
    words, usage = [], None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            words.append(chunk.choices[0].delta.content)
        usage = chunk.usage or usage
    assert "".join(words) == text  # same conversation, same answer, word by word
    assert len(words) == len(text.split())
    assert usage is not None
    tokens = answer.usage.total_tokens + usage.total_tokens

    with httpx.Client(base_url=server.base_url, timeout=30) as web:
        report = web.get("/api/openai/v1/usage", headers=auth(account)).json()
        assert report["summary"]["total_tokens"] == tokens
        chat_rows = [e for e in report["by_endpoint"] if e["endpoint"] == "/chat/completions"]
        assert chat_rows[0]["total_requests"] == 2
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            listed = web.get(f"/api/openai/v1/keys/{key['id']}", headers=auth(account)).json()
            if listed["total_tokens"] == tokens and listed["total_requests"] == 3:
                break
            time.sleep(0.1)
        assert listed["total_tokens"] == tokens
        assert listed["total_requests"] == 3  # models.list, chat, stream
