"""The playground page. Its script calls the customer API with a key the person pastes: the
server keeps only a hash of each key, so it cannot fill the secret in itself."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import Scope

from serika.accounts.model import Session
from serika.keys.permissions import ordered
from serika.web.dashboard.view import View
from serika.web.routing import services

IMAGES_PATH = "/api/openai/v1/images/generations"


def serves(routes: Iterable[BaseRoute], scope: Scope) -> bool:
    """Whether some route (looking inside mounts) fully matches the request ``scope``."""
    for route in routes:
        match, child = route.matches(scope)
        if match is not Match.FULL:
            continue
        if isinstance(route, Mount):
            if serves(route.routes, {**scope, **child}):
                return True
            continue
        return True
    return False


def images_available(request: Request) -> bool:
    """True once this server has an image generation endpoint (it ships separately)."""
    scope: Scope = {
        "type": "http",
        "method": "POST",
        "path": IMAGES_PATH,
        "root_path": "",
        "path_params": {},
    }
    return serves(request.app.routes, scope)


class Playground:
    def __init__(self, view: View) -> None:
        self.view = view

    async def page(self, request: Request, session: Session) -> Response:
        keys = await services(request).keys.list(session.user.id)
        return self.view.render(
            request,
            "playground.html",
            {
                "keys": keys,
                "ordered": ordered,
                "images_available": images_available(request),
            },
            session=session,
        )

    def routes(self) -> list[Route]:
        return [self.view.page("/playground", self.page)]
