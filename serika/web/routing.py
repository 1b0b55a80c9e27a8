"""Route declarations that name how a route is authenticated and what it needs.

- ``key_route(path, handler, permission=...)``: an API key route; the handler receives the
  verified credential and the request's usage ticket. The permission is declared here, once
  per route, and checked before the handler runs (so a refused request does no work).
- ``account_route(path, handler, permission=...)``: a session, or a key with the permission.
- ``session_route(path, handler)``: a dashboard/script route; the handler receives the session.
  Cookie-authenticated state changes must carry the session's CSRF token (the
  ``x-csrf-token`` header, or an HTML form's ``csrf_token`` field).
- ``public_route``: no authentication.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import NamedTuple

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from serika.accounts.model import Session
from serika.errors import AuthenticationFailed, CSRFRejected, PermissionDenied, SerikaError
from serika.gateway.credentials import presented_key
from serika.gateway.permit import permit
from serika.keys.hashing import SecretHasher
from serika.keys.model import KeyCredential
from serika.keys.permissions import Permission
from serika.services import Services
from serika.usage.model import UsageTicket
from serika.web.head_lines import add_head_lines

SERVICES = "serika.services"  # their name in the lifespan state
SESSION_COOKIE = "serika_session"
CSRF_COOKIE = "serika_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
TOKEN_HEADER = "x-auth-token"  # noqa: S105 (a header name)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ApiCall(NamedTuple):
    """What a key-authenticated handler gets: the verified key and the request's usage ticket."""

    credential: KeyCredential
    ticket: UsageTicket


KeyHandler = Callable[[Request, ApiCall], Awaitable[Response]]
AccountHandler = Callable[[Request, str], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]
SessionHandler = Callable[[Request, Session], Awaitable[Response]]
PublicHandler = Callable[[Request], Awaitable[Response]]


def services(request: Request) -> Services:
    """This app's services, from the lifespan state the server copies into every request's
    scope (``request.app.state`` reads through a ``__getattr__`` that first fails a normal
    lookup: ~1.3 us a call, twice or more per request, against ~0.1)."""
    found: Services = request.scope["state"][SERVICES]
    return found


def _label(path: str) -> str:
    """How usage names an endpoint: its path template without converters."""
    return re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", path)


def _authorization(request: Request) -> str | None:
    """The Authorization header, read straight from the ASGI scope (names are lowercase)."""
    for name, value in request.scope["headers"]:
        if name == b"authorization":
            return str(value.decode("latin-1"))
    return None


def _key_endpoint(
    path: str, handler: KeyHandler, permission: Permission | None, reserves: bool = False
) -> Endpoint:
    label = _label(path)

    async def endpoint(request: Request) -> Response:
        found = services(request)
        credential = await found.verifier.verify(presented_key(_authorization(request)))
        try:
            permit(credential, permission)
        except PermissionDenied:
            found.activity.record(credential.key_id, requests=0)
            raise
        ticket = found.meter.open(  # its close counts the request in the key's totals
            credential.user_id,
            credential.key_id,
            label,
            credential.tier,
            credential.spend_limit_micro_usd,
        )
        try:
            if not reserves:
                caller = ticket.caller()
                admission = found.limiter.admit_now(caller)  # no await with in-process counters
                if admission is None:
                    admission = await found.limiter.admit(caller)
                ticket.admission = admission
            response = await handler(request, ApiCall(credential, ticket))
        except SerikaError as error:
            ticket.status = error.status
            found.meter.close(ticket)
            if ticket.admission is not None:
                error.headers = {**ticket.admission.headers, **error.headers}
            raise
        except BaseException as error:
            ticket.status = 499 if isinstance(error, asyncio.CancelledError) else 500
            found.meter.close(ticket)
            raise
        if not ticket.deferred:
            ticket.status = response.status_code
            found.meter.close_soon(ticket)  # once the answer is written
        admission = ticket.admission
        if admission is not None and admission.head:
            # made from the limit names, limits, counts and reset times: no other text
            add_head_lines(
                request.scope, response.raw_headers, admission.head, admission.lines, safe=True
            )
        return response

    return endpoint


def key_route(
    path: str,
    handler: KeyHandler,
    *,
    permission: Permission | None,
    methods: Sequence[str] = ("GET",),
    reserves: bool = False,
) -> Route:
    """A route for programs holding an API key; every permitted call is metered and limited.

    ``reserves=True``: the handler admits the call itself once it can estimate its cost (tokens,
    images), so limits are checked in one round trip; otherwise the route admits it first.
    """
    endpoint = _key_endpoint(path, handler, permission, reserves)
    return Route(path, endpoint, methods=list(methods), name=handler.__name__)


def account_route(
    path: str,
    handler: AccountHandler,
    *,
    permission: Permission,
    methods: Sequence[str] = ("GET",),
) -> Route:
    """A route for either a signed-in session or an API key holding ``permission``."""

    async def with_key(request: Request, call: ApiCall) -> Response:
        return await handler(request, call.credential.user_id)

    keyed = _key_endpoint(path, with_key, permission)

    async def endpoint(request: Request) -> Response:
        if _authorization(request):
            return await keyed(request)
        session, from_cookie = await current_session(request)
        if from_cookie and request.method not in SAFE_METHODS:
            await check_csrf(request, session)
        return await handler(request, session.user.id)

    return Route(path, endpoint, methods=list(methods), name=handler.__name__)


async def current_session(request: Request) -> tuple[Session, bool]:
    """The session and whether it came from the cookie (and so needs CSRF checks)."""
    header_token = request.headers.get(TOKEN_HEADER)
    token = header_token or request.cookies.get(SESSION_COOKIE, "")
    session = await services(request).accounts.session(token) if token else None
    if session is None:
        raise AuthenticationFailed(
            "Sign in first: send the session cookie or the 'x-auth-token' header.",
            code="not_authenticated",
        )
    return session, header_token is None


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def sent_csrf_token(request: Request) -> str:
    """The CSRF token a request carries: the header, or an HTML form's ``csrf_token`` field."""
    sent = request.headers.get(CSRF_HEADER, "")
    if sent:
        return sent
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _FORM_TYPES:
        return ""
    await request.body()  # cached, so a handler can still read the body after the form
    value = (await request.form()).get(CSRF_FIELD)
    return value if isinstance(value, str) else ""


async def check_csrf(request: Request, session: Session) -> None:
    sent = await sent_csrf_token(request)
    if not sent or not SecretHasher.same(sent, session.csrf_token):
        raise CSRFRejected(
            "This request changes state with a session cookie but lacks the CSRF token; "
            f"send it in the '{CSRF_HEADER}' header (HTML forms: the '{CSRF_FIELD}' field)."
        )


def session_route(
    path: str, handler: SessionHandler, *, methods: Sequence[str] = ("GET",)
) -> Route:
    async def endpoint(request: Request) -> Response:
        session, from_cookie = await current_session(request)
        if from_cookie and request.method not in SAFE_METHODS:
            await check_csrf(request, session)
        return await handler(request, session)

    return Route(path, endpoint, methods=list(methods), name=handler.__name__)


def public_route(path: str, handler: PublicHandler, *, methods: Sequence[str] = ("GET",)) -> Route:
    return Route(path, handler, methods=list(methods), name=handler.__name__)
