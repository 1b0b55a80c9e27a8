"""The API edge: the OpenAI API's fixed-path routes answered straight from a table.

Programs call a handful of fixed paths (``/models``, ``/chat/completions``, ``/user`` ...) at
high rates. The general router would try every route in turn (the dashboard's, the mounts'
patterns) and wrap each call in its exception layers; the edge, a pure ASGI middleware in
front of it, finds those paths with one dictionary lookup and calls the same endpoint
functions. Routes with path parameters, other methods (405), unknown paths (404) and
everything outside the API go on to the router unchanged, so the answers are the same either
way; only the work to reach the endpoint differs.

The edge sits in front of ``SecurityHeaders`` and adds the two pairs that middleware gives
every non-HTML answer itself (the API never answers HTML): behind it, its wrapper cost 28k
instructions per ``/models`` request (191k against 219k, ``profile_auth.py``). It sits in
front of Starlette's error middleware too (``serika.app``), since it answers its endpoints'
exceptions itself, and of the body size limit (``serika.web.limits``), since it holds its
endpoints' bodies to the limit itself: one that arrived whole by its length, without looking
through the headers for a ``Content-Length`` (any other as that middleware does). Under
Serika's own protocol those two headers go as ready-made lines (``serika.safe_head_lines``)
and a whole answer in one call (``serika.answer``), not as two ASGI messages.

Under Serika's own HTTP protocol a request body that has already arrived whole (most API
calls fit one segment) is handed to the request in one piece (the ``serika.whole_body``
scope extension), instead of through ``receive`` as ASGI messages collected by a body
stream: at one connection that read took 27 of the ~500 µs a chat completion spends in the
server, and takes ~8 now (timestamps around it, `bench/GATEWAY.md`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from serika.header_lines import encoded
from serika.web.dashboard.security import EVERY_RESPONSE
from serika.web.errors import error_answer
from serika.web.head_lines import add_head_lines
from serika.web.http_server import ANSWER_EXTENSION, BODY_EXTENSION
from serika.web.limits import BodySizeLimit, too_large
from serika.web.responses import JSON

Endpoint = Callable[[Request], Awaitable[Response]]
_NO_METHODS: dict[str, Endpoint] = {}
_NO_EXTENSIONS: dict[str, Any] = {}
_EVERY_RESPONSE_LINES = (encoded(EVERY_RESPONSE), len(EVERY_RESPONSE))
# Answers whose body is all there when they are made (streams are not)
_WHOLE = frozenset({JSON, Response, JSONResponse, PlainTextResponse})


def fixed_routes(routes: Iterable[BaseRoute], prefix: str = "") -> dict[str, dict[str, Endpoint]]:
    """Path -> method -> endpoint for every route without path parameters (mounts walked)."""
    table: dict[str, dict[str, Endpoint]] = {}
    for route in routes:
        if isinstance(route, Mount):
            for path, methods in fixed_routes(route.routes, prefix + route.path).items():
                table.setdefault(path, {}).update(methods)
        elif isinstance(route, Route) and not route.param_convertors and route.methods:
            methods = table.setdefault(prefix + route.path, {})
            for method in route.methods:
                methods.setdefault(method, route.endpoint)
    return table


class ApiEdge:
    """In front of ``app`` (the rest of the application, behind its own body size limit),
    answering the fixed paths of ``routes``; it refuses their bodies over ``max_body_bytes``
    as ``BodySizeLimit`` would: a body that arrived whole by its length, any other as that
    middleware does, by its ``Content-Length`` or counted as it comes."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute], *, max_body_bytes: int) -> None:
        self.app = app
        self._table = fixed_routes(routes)
        self._max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            endpoint = self._table.get(scope["path"], _NO_METHODS).get(scope["method"])
            if endpoint is not None:
                await self._serve(endpoint, scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _serve(self, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
        body = None
        if scope["method"] != "GET":
            whole_body = scope.get("extensions", _NO_EXTENSIONS).get(BODY_EXTENSION)
            body = whole_body() if whole_body is not None else None
            if body is None:  # still arriving, or another server: limited as it comes
                limited = BodySizeLimit(partial(self._answer, endpoint), self._max_body_bytes)
                await limited(scope, receive, send)
                return
        await self._answer(endpoint, scope, receive, send, body)

    async def _answer(
        self,
        endpoint: Endpoint,
        scope: Scope,
        receive: Receive,
        send: Send,
        body: bytes | None = None,
    ) -> None:
        request = Request(scope, receive, send)
        extensions = scope.get("extensions", _NO_EXTENSIONS)
        try:
            if body is not None:  # it arrived whole
                if len(body) > self._max_body_bytes:
                    raise too_large(self._max_body_bytes)
                request._body = body  # what Request.body() keeps once it has read it
            response = await endpoint(request)
        except Exception as error:  # answered as the app's exception handlers answer it
            response = await error_answer(request, error)
        add_head_lines(scope, response.raw_headers, *_EVERY_RESPONSE_LINES, safe=True)  # constants
        if type(response) in _WHOLE and response.background is None:
            answer = extensions.get(ANSWER_EXTENSION)
            if answer is not None and answer(
                response.status_code, response.raw_headers, response.body
            ):
                return
        await response(scope, receive, send)
