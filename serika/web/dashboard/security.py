"""Browser-facing protections: security headers, and CSRF for the forms used before signing in.

After signing in, every form carries the session's CSRF token (checked by ``check_csrf``). The
sign-in and register forms have no session yet, so they use a double-submit token: a random
value in an HttpOnly, SameSite=Strict cookie (``serika_form``) that the form repeats in a hidden
field. Another site can neither read the cookie nor make the browser send it with a cross-site
POST, so it cannot forge the pair (no login CSRF). Browsers that say where a request came from
(``Sec-Fetch-Site``) are also refused when it is another site.
"""

from __future__ import annotations

import secrets

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serika.errors import CSRFRejected
from serika.keys.hashing import SecretHasher
from serika.web.api_auth import secure_cookies
from serika.web.dashboard.view import field

FORM_COOKIE = "serika_form"
FORM_FIELD = "form_token"
FORM_TOKEN_SECONDS = 24 * 3600

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'"
)
EVERY_RESPONSE = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]
_HTML_RESPONSE = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders:
    """Adds nosniff and Referrer-Policy to every answer, and CSP + framing rules to HTML.

    It runs on every request (API calls included), so it works on the raw header list in one
    pass: no header objects, no decoding, the pairs prepared once.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", ()))
                present = set()
                html = False
                for name, value in raw:
                    lowered = name.lower()
                    present.add(lowered)
                    if lowered == b"content-type" and value.startswith(b"text/html"):
                        html = True
                extra = EVERY_RESPONSE + _HTML_RESPONSE if html else EVERY_RESPONSE
                raw.extend(pair for pair in extra if pair[0] not in present)
                message["headers"] = raw
            await send(message)

        await self.app(scope, receive, with_headers)


def form_token(request: Request) -> str:
    """The visitor's pre-session form token (the cookie's, or a new one)."""
    current = request.cookies.get(FORM_COOKIE, "")
    if 32 <= len(current) <= 64 and current.replace("-", "").replace("_", "").isalnum():
        return current
    return secrets.token_urlsafe(32)


def remember_form_token(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        FORM_COOKIE,
        token,
        max_age=FORM_TOKEN_SECONDS,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
        path="/",
    )


def check_form_token(request: Request, form: FormData) -> None:
    """Refuses a sign-in or register post that did not come from our own form."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in {"same-origin", "none"}:
        raise CSRFRejected("This form was sent from another site, so it was refused.")
    cookie = request.cookies.get(FORM_COOKIE, "")
    sent = field(form, FORM_FIELD)
    if not cookie or not sent or not SecretHasher.same(cookie, sent):
        raise CSRFRejected(
            "This form has expired or did not come from this site. Reload the page and try again."
        )
