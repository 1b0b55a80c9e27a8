"""The API edge answers fixed API paths from its table, exactly as the router would."""

from __future__ import annotations

import orjson
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from serika.errors import AuthenticationFailed
from serika.web.edge import ApiEdge, fixed_routes
from tests.web.test_http_server import connect, read_answer, run


async def ok(_request: Request) -> Response:
    return JSONResponse({"ok": True})


async def refused(_request: Request) -> Response:
    raise AuthenticationFailed("no key", code="missing_api_key")


async def broken(_request: Request) -> Response:
    raise ZeroDivisionError("a bug")


async def item(_request: Request) -> Response:
    return JSONResponse({"item": True})


async def length(request: Request) -> Response:
    return JSONResponse({"length": len(await request.body())})


ROUTES = [
    Route("/ok", ok),
    Route("/refused", refused),
    Route("/broken", broken),
    Route("/items/{item_id}", item),
    Route("/length", length, methods=["POST"]),
]


class Fallback:
    """Stands for the router: records what the edge passed on."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.paths.append(scope["path"])
        await Response(b"router", status_code=299)(scope, receive, send)


def edge_client() -> tuple[TestClient, Fallback]:
    fallback = Fallback()
    mounts = [Mount("/api/openai/v1", routes=ROUTES), Mount("/v1", routes=ROUTES)]
    edge = ApiEdge(fallback, mounts, max_body_bytes=10)
    return TestClient(edge, raise_server_exceptions=False), fallback


def test_the_table_has_every_fixed_path_under_each_mount_and_no_parameters() -> None:
    table = fixed_routes([Mount("/api/openai/v1", routes=ROUTES), Mount("/v1", routes=ROUTES)])
    assert set(table) == {
        f"{prefix}/{name}"
        for prefix in ("/api/openai/v1", "/v1")
        for name in ("ok", "refused", "broken", "length")
    }
    assert set(table["/v1/ok"]) == {"GET", "HEAD"}


def test_fixed_paths_are_answered_by_the_edge_with_the_security_headers_of_every_answer() -> None:
    client, fallback = edge_client()
    for path in ("/api/openai/v1/ok", "/v1/ok"):
        answer = client.get(path)
        assert answer.status_code == 200 and answer.json() == {"ok": True}
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "same-origin"
    assert fallback.paths == []


def test_everything_else_goes_on_to_the_router() -> None:
    client, fallback = edge_client()
    assert client.get("/v1/items/7").status_code == 299  # a path parameter
    assert client.post("/v1/ok").status_code == 299  # a method the route lacks: the router's 405
    assert client.get("/v1/ok/").status_code == 299  # the router's slash redirect
    assert client.get("/healthz").status_code == 299
    assert fallback.paths == ["/v1/items/7", "/v1/ok", "/v1/ok/", "/healthz"]


def test_errors_are_answered_in_the_openai_shape() -> None:
    client, _ = edge_client()
    refused_answer = client.get("/v1/refused")
    assert refused_answer.status_code == 401
    assert refused_answer.json()["error"]["code"] == "missing_api_key"
    broken_answer = client.get("/v1/broken")
    assert broken_answer.status_code == 500
    error = broken_answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "a bug" not in broken_answer.text  # no internals leak
    assert broken_answer.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("server", ["serika", "test client"])
def test_bodies_over_the_size_limit_are_refused_at_the_edge_however_they_arrive(
    server: str,
) -> None:
    """Under Serika's protocol a body that arrived whole is judged by its length; one still
    arriving (or under another server) by its Content-Length, or counted as it comes."""
    sent = [
        (b"Content-Length: 10\r\n\r\n0123456789", 200),
        (b"Content-Length: 11\r\n\r\n0123456789a", 413),
        (b"Transfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n", 200),
        (b"Transfer-Encoding: chunked\r\n\r\nb\r\n0123456789a\r\n0\r\n\r\n", 413),
    ]
    if server == "test client":
        client, _ = edge_client()
        for head_and_body, status in sent:
            body = head_and_body.split(b"\r\n\r\n", 1)[1]
            if b"chunked" in head_and_body:
                answer = client.post("/v1/length", content=iter([body.split(b"\r\n")[1]]))
            else:
                answer = client.post("/v1/length", content=body)
            assert answer.status_code == status
        return

    edge = ApiEdge(Fallback(), [Mount("/v1", routes=ROUTES)], max_body_bytes=10)

    async def scenario(port: int) -> None:
        for head_and_body, status in sent:
            reader, writer = await connect(port)
            writer.write(b"POST /v1/length HTTP/1.1\r\nHost: x\r\n" + head_and_body)
            answered, headers, body = await read_answer(reader)
            assert int(answered.split()[1]) == status, body
            if status == 413:
                assert orjson.loads(body)["error"]["code"] == "request_too_large"
                assert headers[b"x-content-type-options"] == b"nosniff"
            else:
                assert orjson.loads(body) == {"length": 10}
            writer.close()
        # a body still arriving when the app starts goes through the size limit's count
        reader, writer = await connect(port)
        writer.write(b"POST /v1/length HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n0123")
        answered, _, body = await read_answer(reader)
        assert answered.split()[1] == b"413"
        writer.close()

    run(edge, scenario)
