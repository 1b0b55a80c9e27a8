"""Rendering dashboard pages, and the route declaration every page uses.

One autoescaping Jinja2 environment per app (built by ``dashboard.routes()``, no module state).
``View.page(path, handler)`` is the HTML twin of ``session_route``: the same session lookup and
the same CSRF check (the token comes in the form's ``csrf_token`` field or htmx's header), but
a visitor without a session is sent to the sign-in page, and a domain error becomes an HTML
page instead of a JSON body.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from serika.accounts.model import Session
from serika.errors import AuthenticationFailed, InvalidRequest, SerikaError
from serika.web.routing import SAFE_METHODS, check_csrf, current_session

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
HOME = "/keys"

PageHandler = Callable[[Request, Session], Awaitable[Response]]
OpenPageHandler = Callable[[Request, Session | None], Awaitable[Response]]

# Messages a redirect may ask the next page to show (by name, so no text travels in URLs).
NOTICES: Mapping[str, str] = {
    "welcome": "Welcome! Create your first API key to start calling the API.",
    "signed-out": "You are signed out.",
    "key-deleted": "The key was deleted. Programs using it are refused from now on.",
    "key-saved": "The key was saved.",
    "character-created": "The character was created.",
    "character-saved": "The character was saved.",
    "character-deleted": "The character was deleted.",
    "avatar-saved": "The avatar was saved.",
}


def when(moment: datetime | None, empty: str = "never") -> str:
    """A moment as people read it on the dashboard (UTC, to the minute)."""
    if moment is None:
        return empty
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def number(value: int | float) -> str:
    return f"{value:,}"


def money(value: float) -> str:
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


def safe_next(value: str | None) -> str:
    """Only local paths are followed after signing in (no open redirect)."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return HOME


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def field(form: FormData, name: str) -> str:
    """A text field of a posted form ("" when absent). NUL is refused, as in JSON bodies."""
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    if "\x00" in value:
        raise InvalidRequest("Form fields must not contain NUL characters.", param=name)
    return value


async def maybe_session(request: Request) -> Session | None:
    try:
        session, _ = await current_session(request)
    except AuthenticationFailed:
        return None
    return session


class View:
    def __init__(self) -> None:
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals["static"] = self.static_url
        self.env.filters["when"] = when
        self.env.filters["number"] = number
        self.env.filters["money"] = money
        self._versions: dict[str, str] = {}

    def static_url(self, name: str) -> str:
        """``/static/NAME?v=HASH``: browsers may cache it for good, and see every change."""
        version = self._versions.get(name)
        if version is None:
            version = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]
            self._versions[name] = version
        return f"/static/{name}?v={version}"

    def render(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any] | None = None,
        *,
        session: Session | None = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        values: dict[str, Any] = {
            "user": session.user if session else None,
            "csrf_token": session.csrf_token if session else "",
            "path": request.url.path,
            "notice": NOTICES.get(request.query_params.get("notice", "")),
            "error": None,
        }
        values.update(context or {})
        html = self.env.get_template(template).render(values)
        response = HTMLResponse(html, status_code=status_code, headers=dict(headers or {}))
        # Pages show account data (and, once, key secrets): never kept in any cache.
        response.headers["Cache-Control"] = "no-store"
        return response

    def error_page(
        self, request: Request, session: Session | None, error: SerikaError
    ) -> HTMLResponse:
        return self.render(
            request,
            "error.html",
            {"status": error.status, "message": error.message},
            session=session,
            status_code=error.status,
            headers=error.headers,
        )

    @staticmethod
    def to_sign_in(request: Request) -> Response:
        target = "/login"
        if request.method in SAFE_METHODS and request.url.path != "/":
            wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            target += "?next=" + quote(wanted, safe="")
        if is_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    def page(self, path: str, handler: PageHandler, *, methods: Sequence[str] = ("GET",)) -> Route:
        """A page for a signed-in person; without a session it sends them to sign in."""

        async def endpoint(request: Request) -> Response:
            try:
                session, from_cookie = await current_session(request)
            except AuthenticationFailed:
                return self.to_sign_in(request)
            try:
                if from_cookie and request.method not in SAFE_METHODS:
                    await check_csrf(request, session)
                return await handler(request, session)
            except SerikaError as error:
                return self.error_page(request, session, error)

        return Route(path, endpoint, methods=list(methods), name=f"page_{handler.__name__}")

    def open_page(
        self, path: str, handler: OpenPageHandler, *, methods: Sequence[str] = ("GET",)
    ) -> Route:
        """A page anyone may see (sign-in, docs); the handler gets the session if there is one.

        Its unsafe methods must protect themselves (the sign-in forms check a pre-session
        token; see ``security.check_form_token``).
        """

        async def endpoint(request: Request) -> Response:
            session = await maybe_session(request)
            try:
                return await handler(request, session)
            except SerikaError as error:
                return self.error_page(request, session, error)

        return Route(path, endpoint, methods=list(methods), name=f"page_{handler.__name__}")
