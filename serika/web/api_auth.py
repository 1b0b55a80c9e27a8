"""``/api/auth``: register, log in, log out, who am I, change the password."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from serika.accounts.model import Session
from serika.web.bodies import json_object
from serika.web.presenters import user_json
from serika.web.responses import JSON, iso, no_content
from serika.web.routing import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    TOKEN_HEADER,
    public_route,
    services,
    session_route,
)


def secure_cookies(request: Request) -> bool:
    """Whether cookies get `Secure`: always, never, or when the request came over HTTPS."""
    mode = services(request).settings.cookie_secure
    return mode == "always" or (mode == "auto" and request.url.scheme == "https")


async def register(request: Request) -> Response:
    body = await json_object(request)
    user = await services(request).accounts.register(
        body.get("email"), body.get("username"), body.get("password")
    )
    return JSON(user_json(user), status_code=201)


def set_session_cookies(request: Request, response: Response, session: Session) -> None:
    """The HttpOnly session cookie and the script-readable CSRF cookie, after a login."""
    max_age = services(request).settings.session_ttl_seconds
    secure = secure_cookies(request)
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )
    response.set_cookie(
        CSRF_COOKIE,
        session.csrf_token,
        max_age=max_age,
        httponly=False,
        samesite="strict",
        secure=secure,
        path="/",
    )


def clear_session_cookies(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def session_token(request: Request) -> str:
    """The token that authenticated this request (header or cookie)."""
    return request.headers.get(TOKEN_HEADER) or request.cookies.get(SESSION_COOKIE, "")


async def login(request: Request) -> Response:
    body = await json_object(request)
    session = await services(request).accounts.login(
        body.get("email"), body.get("password"), client_address(request)
    )
    response = JSON(
        {
            "token": session.token,
            "csrf_token": session.csrf_token,
            "expires_at": iso(session.expires_at),
            "user": user_json(session.user),
        }
    )
    set_session_cookies(request, response, session)
    return response


async def logout(request: Request, _session: Session) -> Response:
    await services(request).accounts.logout(session_token(request))
    response = no_content()
    clear_session_cookies(response)
    return response


async def change_password(request: Request, session: Session) -> Response:
    """Keeps this session signed in and signs out every other one."""
    body = await json_object(request)
    await services(request).accounts.change_password(
        session.user.id,
        body.get("current_password"),
        body.get("new_password"),
        keep_token=session_token(request),
        address=client_address(request),
    )
    return no_content()


async def current_user(_request: Request, session: Session) -> Response:
    return JSON(user_json(session.user))


async def update_user(request: Request, session: Session) -> Response:
    """Today: the monthly spending limit (``monthly_spending_limit`` in USD, or null)."""
    body = await json_object(request)
    user = session.user
    if "monthly_spending_limit" in body:
        user = await services(request).accounts.set_spending_limit(
            user.id, body["monthly_spending_limit"]
        )
    return JSON(user_json(user))


def routes() -> list[Route]:
    return [
        public_route("/register", register, methods=["POST"]),
        public_route("/login", login, methods=["POST"]),
        session_route("/logout", logout, methods=["POST"]),
        session_route("/user", current_user),
        session_route("/user", update_user, methods=["PATCH"]),
        session_route("/password", change_password, methods=["POST"]),
    ]
