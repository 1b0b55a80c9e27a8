"""``/api/admin``: operator actions over HTTP, behind ``SERIKA_ADMIN_TOKEN`` (off when unset)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from serika.accounts.model import Tier
from serika.errors import AuthenticationFailed, InvalidRequest, NotFound
from serika.keys.hashing import SecretHasher
from serika.web.bodies import json_object, required
from serika.web.presenters import user_json
from serika.web.responses import JSON
from serika.web.routing import services


def _check_admin(request: Request) -> None:
    token = services(request).settings.admin_token
    if not token:
        raise NotFound("The admin API is not enabled on this server (set SERIKA_ADMIN_TOKEN).")
    sent = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if not sent or not SecretHasher.same(sent, token):
        raise AuthenticationFailed("A valid admin token is required.", code="invalid_admin_token")


async def set_tier(request: Request) -> Response:
    _check_admin(request)
    body = await json_object(request)
    tier = required(body, "tier")
    if tier not in {t.value for t in Tier}:
        raise InvalidRequest("tier must be 'free' or 'premium'", param="tier")
    user = await services(request).accounts.set_tier(str(required(body, "email")), Tier(tier))
    return JSON(user_json(user))


def routes() -> list[Route]:
    return [Route("/api/admin/users/tier", set_tier, methods=["POST"])]
