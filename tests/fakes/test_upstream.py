"""The fake upstream itself, exercised over HTTP as a real process."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import upstream as support
from tests.support.upstream import FakeUpstream

fake_upstream_process = support.fake_upstream_process
fake_upstream = support.fake_upstream

ERROR_MESSAGE = "fake upstream error {} (upstream-secret-detail https://fake-upstream.internal)"


@pytest.fixture
def client(fake_upstream: FakeUpstream) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake_upstream.root_url, timeout=10.0) as http:
        yield http


def chat(content: str, **extra: Any) -> dict[str, Any]:
    return {"model": "fake-chat", "messages": [{"role": "user", "content": content}], **extra}


def events(response: httpx.Response) -> list[str]:
    """The ``data`` of every SSE event in a streamed response, ``[DONE]`` included."""
    return [line[len("data: ") :] for line in response.iter_lines() if line.startswith("data: ")]


def stream_events(client: httpx.Client, path: str, body: dict[str, Any]) -> list[str]:
    with client.stream("POST", path, json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return events(response)


def chunks(data: list[str]) -> list[dict[str, Any]]:
    assert data[-1] == "[DONE]"
    parsed: list[dict[str, Any]] = [json.loads(d) for d in data[:-1]]
    return parsed


def chat_text(parsed: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in parsed if c["choices"])


# -- plain answers ----------------------------------------------------------------------------


def test_chat_completion_echoes_the_last_message(client: httpx.Client) -> None:
    body = {
        "model": "fake-chat",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hello there, fake"},
        ],
    }
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    answer = response.json()
    assert answer["object"] == "chat.completion"
    assert answer["model"] == "fake-chat"
    message = answer["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "Echo: hello there, fake", "refusal": None}
    assert answer["choices"][0]["finish_reason"] == "stop"
    # 2 + 3 words in the messages; "Echo: hello there, fake" has 4.
    assert answer["usage"] == {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}


def test_text_completion(client: httpx.Client) -> None:
    response = client.post("/v1/completions", json={"model": "fake-instruct", "prompt": "say hi"})
    assert response.status_code == 200
    answer = response.json()
    assert answer["object"] == "text_completion"
    assert answer["choices"][0]["text"] == "Echo: say hi"
    assert answer["usage"] == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}


def test_chunks_directive_without_stream_joins_the_words(client: httpx.Client) -> None:
    answer = client.post("/v1/chat/completions", json=chat("x #chunks=3")).json()
    assert answer["choices"][0]["message"]["content"] == "word0 word1 word2"
    assert answer["usage"]["completion_tokens"] == 3


def test_list_models(client: httpx.Client) -> None:
    answer = client.get("/v1/models").json()
    assert answer["object"] == "list"
    assert [m["id"] for m in answer["data"]] == ["fake-chat", "fake-instruct", "fake-large"]


def test_unknown_path_is_recorded_and_answered_404(
    client: httpx.Client, fake_upstream: FakeUpstream
) -> None:
    response = client.post("/v2/whatever", json={})
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"
    assert fake_upstream.requests()[-1]["path"] == "/v2/whatever"


def test_bad_directive_value_is_a_400(client: httpx.Client) -> None:
    response = client.post("/v1/chat/completions", json=chat("#delay=soon"))
    assert response.status_code == 400
    assert "#delay" in response.json()["error"]["message"]


# -- streams ----------------------------------------------------------------------------------


def test_chat_stream_without_usage(client: httpx.Client) -> None:
    parsed = chunks(stream_events(client, "/v1/chat/completions", chat("abcdefghij", stream=True)))
    assert all(c["object"] == "chat.completion.chunk" for c in parsed)
    assert all("usage" not in c for c in parsed)
    assert parsed[0]["choices"][0]["delta"]["role"] == "assistant"
    assert len(parsed) == 1 + 5 + 1  # role, five content pieces, finish
    assert parsed[-1]["choices"][0]["finish_reason"] == "stop"
    assert parsed[-1]["choices"][0]["delta"] == {}
    assert chat_text(parsed) == "Echo: abcdefghij"


def test_chat_stream_with_usage(client: httpx.Client) -> None:
    body = chat("one two #chunks=3", stream=True, stream_options={"include_usage": True})
    parsed = chunks(stream_events(client, "/v1/chat/completions", body))
    assert [c["choices"][0]["delta"].get("content") for c in parsed[1:4]] == [
        "word0",
        " word1",
        " word2",
    ]
    assert parsed[4]["choices"][0]["finish_reason"] == "stop"
    last = parsed[-1]
    assert last["choices"] == []
    assert last["usage"] == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}
    assert all(c["usage"] is None for c in parsed[:-1])  # as OpenAI: null until the end


def test_text_completion_stream(client: httpx.Client) -> None:
    body = {
        "model": "fake-instruct",
        "prompt": "p #chunks=2",
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    parsed = chunks(stream_events(client, "/v1/completions", body))
    assert all(c["object"] == "text_completion" for c in parsed)
    assert [c["choices"][0]["text"] for c in parsed[:2]] == ["word0", " word1"]
    assert parsed[2]["choices"][0]["finish_reason"] == "stop"
    assert parsed[3]["choices"] == []
    assert parsed[3]["usage"]["completion_tokens"] == 2


# -- directives -------------------------------------------------------------------------------


def test_delay_holds_the_first_byte(client: httpx.Client) -> None:
    started = time.monotonic()
    with client.stream("POST", "/v1/chat/completions", json=chat("#delay=0.4", stream=True)) as r:
        headers_after = time.monotonic() - started
        assert r.status_code == 200
        events(r)
    assert headers_after >= 0.4


def test_chunk_delay_spaces_the_chunks(client: httpx.Client) -> None:
    body = chat("#chunks=4 #chunk_delay=0.1", stream=True)
    arrivals: list[float] = []
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        for line in response.iter_lines():
            if line.startswith("data: ") and '"content":"' in line and "word" in line:
                arrivals.append(time.monotonic())
    assert len(arrivals) == 4
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert all(gap >= 0.07 for gap in gaps), gaps  # each one flushed as it was written


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (503, "api_error"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_status_directive(client: httpx.Client, status: int, kind: str, stream: bool) -> None:
    response = client.post("/v1/chat/completions", json=chat(f"#status={status}", stream=stream))
    assert response.status_code == status
    assert response.json() == {
        "error": {
            "message": ERROR_MESSAGE.format(status),
            "type": kind,
            "param": None,
            "code": "fake_code",
        }
    }


def test_drop_aborts_a_stream(client: httpx.Client, fake_upstream: FakeUpstream) -> None:
    received: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        client.stream(
            "POST", "/v1/chat/completions", json=chat("#chunks=5 #drop=2", stream=True)
        ) as response,
    ):
        for line in response.iter_lines():
            if line.startswith("data: "):
                received.append(line)
    assert len(received) == 3  # the role chunk and two content chunks; no finish, no [DONE]
    record = fake_upstream.wait_for(lambda r: r["finished_at"] is not None)
    assert record["dropped"] is True
    assert record["chunks_sent"] == 2
    assert record["completed"] is False


def test_drop_without_stream_closes_before_answering(client: httpx.Client) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/v1/chat/completions", json=chat("#drop=0"))


def test_nousage(client: httpx.Client) -> None:
    answer = client.post("/v1/chat/completions", json=chat("#nousage")).json()
    assert "usage" not in answer
    body = chat("#nousage", stream=True, stream_options={"include_usage": True})
    parsed = chunks(stream_events(client, "/v1/chat/completions", body))
    assert all(c["choices"] and "usage" not in c for c in parsed)


def test_garbage(client: httpx.Client) -> None:
    response = client.post("/v1/chat/completions", json=chat("#garbage"))
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()
    data = stream_events(client, "/v1/chat/completions", chat("#garbage", stream=True))
    assert data[-1] == "[DONE]"
    for item in data[:-1]:
        with pytest.raises(json.JSONDecodeError):
            json.loads(item)


def test_directives_work_in_content_parts(client: httpx.Client) -> None:
    parts = [{"type": "text", "text": "look"}, {"type": "text", "text": "#chunks=2"}]
    body = {"model": "fake-chat", "messages": [{"role": "user", "content": parts}]}
    answer = client.post("/v1/chat/completions", json=body).json()
    assert answer["choices"][0]["message"]["content"] == "word0 word1"


# -- azure, recording -------------------------------------------------------------------------


def test_azure_layout(client: httpx.Client, fake_upstream: FakeUpstream) -> None:
    response = client.post(
        "/openai/deployments/my-gpt/chat/completions",
        params={"api-version": "2024-10-21"},
        headers={"api-key": "azure-secret"},
        json={"messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == 200
    assert response.json()["model"] == "my-gpt"
    assert response.json()["choices"][0]["message"]["content"] == "Echo: hi"
    record = fake_upstream.requests()[-1]
    assert record["deployment"] == "my-gpt"
    assert record["api_version"] == "2024-10-21"
    assert record["api_key"] == "azure-secret"
    assert record["headers"]["api-key"] == "azure-secret"
    assert record["query_string"] == "api-version=2024-10-21"


def test_azure_text_completion_stream(client: httpx.Client) -> None:
    path = "/openai/deployments/inst/completions?api-version=2024-10-21"
    parsed = chunks(stream_events(client, path, {"prompt": "#chunks=1", "stream": True}))
    assert parsed[0]["choices"][0]["text"] == "word0"
    assert parsed[0]["model"] == "inst"


def test_recording_and_reset(client: httpx.Client, fake_upstream: FakeUpstream) -> None:
    before = time.time()
    client.post(
        "/v1/chat/completions",
        json=chat("first"),
        headers={"Authorization": "Bearer sk-up", "X-Custom": "1"},
    )
    client.post("/v1/completions?x=1", json={"model": "fake-instruct", "prompt": "second"})
    client.get("/v1/models")
    records = fake_upstream.requests()
    assert [(r["method"], r["path"]) for r in records] == [
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/completions"),
        ("GET", "/v1/models"),
    ]
    first, second, _ = records
    assert first["headers"]["authorization"] == "Bearer sk-up"
    assert first["headers"]["x-custom"] == "1"
    assert all(name == name.lower() for name in first["headers"])
    assert first["body"] == chat("first")
    assert first["stream"] is False
    assert first["status"] == 200
    assert first["completed"] is True
    assert first["disconnected"] is False
    assert second["query_string"] == "x=1"
    assert before <= first["received_at"] <= first["finished_at"] <= second["received_at"]
    assert [r["id"] for r in records] == sorted(r["id"] for r in records)

    fake_upstream.reset()
    assert fake_upstream.requests() == []


def test_client_disconnect_is_recorded(fake_upstream: FakeUpstream) -> None:
    body = chat("#chunks=50 #chunk_delay=0.05", stream=True)
    content_seen = 0
    with (
        httpx.Client(base_url=fake_upstream.root_url, timeout=10.0) as http,
        http.stream("POST", "/v1/chat/completions", json=body) as response,
    ):
        for line in response.iter_lines():
            if '"content":"word' in line or '"content":" word' in line:
                content_seen += 1
                if content_seen == 2:
                    break
    record = fake_upstream.wait_for(lambda r: r["finished_at"] is not None, timeout=5.0)
    assert record["disconnected"] is True
    assert record["completed"] is False
    assert 2 <= record["chunks_sent"] < 50


def test_stop_ends_the_process() -> None:
    upstream = FakeUpstream().start()
    try:
        assert upstream.running
        assert upstream.base_url == f"{upstream.root_url}/v1"
        assert httpx.get(f"{upstream.base_url}/models", timeout=5.0).status_code == 200
    finally:
        code = upstream.stop()
    assert not upstream.running
    assert code is not None
    upstream.stop()  # twice is fine
