"""Docs: a quickstart with this server's own base URL in every snippet, and key hygiene."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from serika.accounts.model import Session
from serika.catalog.catalog import Catalog
from serika.web.dashboard.view import View
from serika.web.routing import services

API_PATH = "/api/openai/v1"


def base_url(request: Request) -> str:
    """The customer API's base URL as this request reached the server."""
    return str(request.base_url).rstrip("/") + API_PATH


def example_model(catalog: Catalog) -> str:
    """A text model this server really serves, for the snippets (the demo one when it is on)."""
    texts = [m.id for m in catalog.usable() if m.type == "text"]
    demo = [m for m in texts if m.startswith("demo/")]
    default = catalog.default_text_model()
    return (demo or [default.id if default else "openai/gpt-4o-mini"])[0]


class DocsPages:
    def __init__(self, view: View) -> None:
        self.view = view

    async def docs(self, request: Request, session: Session | None) -> Response:
        return self.view.render(
            request,
            "docs.html",
            {
                "base_url": base_url(request),
                "model": example_model(services(request).catalog),
            },
            session=session,
        )

    def routes(self) -> list[Route]:
        return [self.view.open_page("/docs", self.docs)]
