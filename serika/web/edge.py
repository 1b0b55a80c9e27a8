"""The API edge: the OpenAI API's fixed-path routes answered straight from a table.

Programs call a handful of fixed paths (``/models``, ``/chat/completions``, ``/user`` ...) at
high rates. The general router would try every route in turn (the dashboard's, the mounts'
patterns) and wrap each call in its exception layers; the edge, a pure ASGI middleware in
front of it, finds those paths with one dictionary lookup and calls the same endpoint
functions. Routes with path parameters, other methods (405), unknown paths (404) and
everything outside the API go on to the router unchanged, so the answers are the same either
way; only the work to reach the endpoint differs.

Answers from the edge carry the headers ``SecurityHeaders`` adds to every non-HTML answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from serika.errors import SerikaError
from serika.web.dashboard.security import EVERY_RESPONSE
from serika.web.errors import http_error, serika_error, unexpected_error

Endpoint = Callable[[Request], Awaitable[Response]]
_NO_METHODS: dict[str, Endpoint] = {}


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
    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self._table = fixed_routes(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            endpoint = self._table.get(scope["path"], _NO_METHODS).get(scope["method"])
            if endpoint is not None:
                await self._serve(endpoint, scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _serve(self, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        try:
            response = await endpoint(request)
        except SerikaError as error:
            response = await serika_error(request, error)
        except HTTPException as error:
            response = await http_error(request, error)
        except Exception as error:  # logged there; the caller gets the OpenAI-shaped 500
            response = await unexpected_error(request, error)
        response.raw_headers.extend(EVERY_RESPONSE)
        await response(scope, receive, send)
