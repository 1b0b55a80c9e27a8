"""``create_app(settings)``: wires stores, services, routers, middleware; no import-time state."""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import AsyncIterator, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp

from serika.clock import Clock
from serika.config import Settings
from serika.db.migrate import is_up_to_date
from serika.services import Services, build_services
from serika.web import (
    api_admin,
    api_auth,
    api_characters,
    api_customer,
    api_images,
    api_keys,
    api_text,
    api_usage,
    cdn,
    dashboard,
    ops,
)
from serika.web.edge import ApiEdge
from serika.web.errors import EXCEPTION_HANDLERS
from serika.web.limits import BodySizeLimit
from serika.web.routing import SERVICES


class NotMigrated(RuntimeError):
    """The database schema is not at the version this code needs."""


def _api_routes() -> list[BaseRoute]:
    return [
        *api_customer.routes(),
        *api_text.routes(),
        *api_images.routes(),
        *api_usage.routes(),
        *api_characters.key_routes(),
        *api_keys.routes(),
    ]


# Allocations between collections of the youngest generation in a server process: measured
# 700 (Python's) 449.4k instructions per chat completion at 32 connections, 2,000 434.7k,
# 10,000 429.3k, 50,000 431.7k (bench/limits_instructions.py, limits off, heap frozen); but at
# 10,000 the p99 at one connection doubled (3.3-4.2 ms -> 6.8-8.6, the slowest answers 11-17
# ms -> 18-26) where 2,000 left it as it was (bench/GATEWAY.md).
_YOUNG_COLLECTION = 2_000


def create_app(
    settings: Settings, clock: Clock | None = None, *, tune_gc: bool = False
) -> Starlette:
    """The application. ``tune_gc`` (a server process of its own, as ``serika serve`` runs
    it): once started, exempt everything that exists from the garbage collector's full
    collections, which otherwise walk every module, table and model of the server each time
    (measured: ~18 % of the time of ``GET /models``, and its slowest answers); and collect the
    youngest generation every ``_YOUNG_COLLECTION`` allocations instead of Python's 700,
    which at that rate walked the objects of every request in flight again and again (~6 %
    of the instructions of a chat completion; bench/GATEWAY.md)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Services]]:
        services = build_services(settings, clock)
        try:
            if not await is_up_to_date(services.engine):
                raise NotMigrated("the database is not migrated: run `serika migrate` first")
            await services.start()
            if tune_gc:
                gc.freeze()
                gc.set_threshold(_YOUNG_COLLECTION, *gc.get_threshold()[1:])
            # ASGI lifespan state: the server puts a copy in every request's scope, where a
            # handler finds the services with two dictionary lookups (``routing.services``).
            yield {SERVICES: services}
        finally:
            await services.close()

    api = _api_routes()
    api_mounts = [Mount("/api/openai/v1", routes=api), Mount("/v1", routes=api)]
    routes: list[BaseRoute] = [
        *ops.routes(),
        Mount("/api/auth", routes=api_auth.routes()),
        *api_characters.owner_routes(),
        *api_admin.routes(),
        Mount("/api/cdn", routes=[*cdn.routes(), *api_characters.cdn_routes()]),
        *api_mounts,
        *dashboard.routes(),
    ]
    return _Serika(
        api_mounts,
        settings.max_body_bytes,
        routes=routes,
        middleware=[Middleware(dashboard.SecurityHeaders)],
        exception_handlers=dict(EXCEPTION_HANDLERS),
        lifespan=lifespan,
    )


class _Serika(Starlette):
    """Starlette with the API edge, then the body size limit, in front of its error middleware.

    The edge answers its endpoints' exceptions itself (as the exception handlers would), adds
    the security headers' pairs and holds their bodies to the size limit itself (one that
    arrived whole by its length: no header to look through); everything else goes on through
    the body size limit, the error middleware, the security headers and the router as before.
    Only the edge's calls skip those layers, and the wrapper one of them puts around every
    ``send``.
    """

    def __init__(self, api_mounts: Sequence[BaseRoute], max_body_bytes: int, **kwargs: Any) -> None:
        self._api_mounts = api_mounts
        self._max_body_bytes = max_body_bytes
        super().__init__(**kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        rest = BodySizeLimit(super().build_middleware_stack(), self._max_body_bytes)
        return ApiEdge(rest, self._api_mounts, max_body_bytes=self._max_body_bytes)


def app_from_environment() -> Starlette:
    """The uvicorn factory used by ``serika serve`` (each worker builds its own app)."""
    return create_app(Settings.load(os.environ), tune_gc=True)
