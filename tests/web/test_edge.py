"""The API edge answers fixed API paths from its table, exactly as the router would."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from serika.errors import AuthenticationFailed
from serika.web.edge import ApiEdge, fixed_routes


async def ok(_request: Request) -> Response:
    return JSONResponse({"ok": True})


async def refused(_request: Request) -> Response:
    raise AuthenticationFailed("no key", code="missing_api_key")


async def broken(_request: Request) -> Response:
    raise ZeroDivisionError("a bug")


async def item(_request: Request) -> Response:
    return JSONResponse({"item": True})


ROUTES = [
    Route("/ok", ok),
    Route("/refused", refused),
    Route("/broken", broken),
    Route("/items/{item_id}", item),
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
    return TestClient(ApiEdge(fallback, mounts), raise_server_exceptions=False), fallback


def test_the_table_has_every_fixed_path_under_each_mount_and_no_parameters() -> None:
    table = fixed_routes([Mount("/api/openai/v1", routes=ROUTES), Mount("/v1", routes=ROUTES)])
    assert set(table) == {
        f"{prefix}/{name}"
        for prefix in ("/api/openai/v1", "/v1")
        for name in ("ok", "refused", "broken")
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
