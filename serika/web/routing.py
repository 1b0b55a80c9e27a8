"""Route declarations that name how a route is authenticated and what it needs.

- ``key_route(path, handler, permission=...)``: an API key route; the handler receives the
  verified credential. The permission is declared here, once per route.
- ``session_route(path, handler)``: a dashboard/script route; the handler receives the session.
  Cookie-authenticated state changes must carry the session's CSRF token.
- ``public_route``: no authentication.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from serika.accounts.model import Session
from serika.errors import AuthenticationFailed, CSRFRejected, PermissionDenied
from serika.gateway.credentials import presented_key
from serika.gateway.permit import permit
from serika.keys.hashing import SecretHasher
from serika.keys.model import KeyCredential
from serika.keys.permissions import Permission
from serika.services import Services

SESSION_COOKIE = "serika_session"
CSRF_COOKIE = "serika_csrf"
CSRF_HEADER = "x-csrf-token"
TOKEN_HEADER = "x-auth-token"  # noqa: S105 (a header name)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

KeyHandler = Callable[[Request, KeyCredential], Awaitable[Response]]
SessionHandler = Callable[[Request, Session], Awaitable[Response]]
PublicHandler = Callable[[Request], Awaitable[Response]]


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def key_route(
    path: str,
    handler: KeyHandler,
    *,
    permission: Permission | None,
    methods: Sequence[str] = ("GET",),
) -> Route:
    async def endpoint(request: Request) -> Response:
        found = services(request)
        credential = await found.verifier.verify(
            presented_key(request.headers.get("authorization"))
        )
        try:
            permit(credential, permission)
        except PermissionDenied:
            found.activity.record(credential.key_id, requests=0)
            raise
        found.activity.record(credential.key_id)
        return await handler(request, credential)

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


def check_csrf(request: Request, session: Session) -> None:
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent or not SecretHasher.same(sent, session.csrf_token):
        raise CSRFRejected(
            "This request changes state with a session cookie but lacks the CSRF token; "
            f"send it in the '{CSRF_HEADER}' header."
        )


def session_route(
    path: str, handler: SessionHandler, *, methods: Sequence[str] = ("GET",)
) -> Route:
    async def endpoint(request: Request) -> Response:
        session, from_cookie = await current_session(request)
        if from_cookie and request.method not in SAFE_METHODS:
            check_csrf(request, session)
        return await handler(request, session)

    return Route(path, endpoint, methods=list(methods), name=handler.__name__)


def public_route(path: str, handler: PublicHandler, *, methods: Sequence[str] = ("GET",)) -> Route:
    return Route(path, handler, methods=list(methods), name=handler.__name__)
