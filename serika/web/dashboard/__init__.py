"""The developer dashboard: server-rendered pages (Jinja2) with htmx, at ``/``.

Every page uses the same services as the JSON API; ``routes()`` builds one autoescaping
template environment per app and returns the pages and ``/static``.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from serika.web.dashboard.account_pages import AccountPages
from serika.web.dashboard.character_pages import CharacterPages
from serika.web.dashboard.docs_pages import DocsPages
from serika.web.dashboard.key_pages import KeyPages
from serika.web.dashboard.playground import Playground
from serika.web.dashboard.security import SecurityHeaders
from serika.web.dashboard.usage_pages import UsagePages
from serika.web.dashboard.view import STATIC, View

__all__ = ["SecurityHeaders", "routes"]


def routes() -> list[BaseRoute]:
    view = View()
    return [
        *AccountPages(view).routes(),
        *KeyPages(view).routes(),
        *UsagePages(view).routes(),
        *Playground(view).routes(),
        *CharacterPages(view).routes(),
        *DocsPages(view).routes(),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
