"""Operations endpoints: liveness for load balancers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from serika.web.routing import public_route

_OK = b'{"status":"ok"}'


async def healthz(_request: Request) -> Response:
    return Response(_OK, media_type="application/json")


def routes() -> list[Route]:
    return [public_route("/healthz", healthz)]
