"""The customer API behind API keys: models and the key owner's profile."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from serika.accounts.model import User
from serika.keys.permissions import Permission
from serika.services import Services
from serika.web.presenters import user_json
from serika.web.responses import JSON
from serika.web.routing import ApiCall, key_route, services


async def list_models(request: Request, _call: ApiCall) -> Response:
    return Response(services(request).catalog.listing_json, media_type="application/json")


async def get_model(request: Request, _call: ApiCall) -> Response:
    model = services(request).catalog.get(str(request.path_params["model_id"]))
    return JSON(model.public())


async def account_profile(found: Services, user: User) -> dict[str, Any]:
    """The profile ``GET /user`` answers; the dashboard's usage page shows the same."""
    usage = await found.reports.this_month(user.id)
    limits = await found.reports.plan_status(user, usage)  # the same month, read once
    return {**user_json(user), "usage": usage, "limits": limits}


async def get_user(request: Request, call: ApiCall) -> Response:
    found = services(request)
    user = await found.accounts.user(call.credential.user_id)
    return JSON(await account_profile(found, user))


def routes() -> list[Route]:
    return [
        key_route("/models", list_models, permission=None),
        key_route("/models/{model_id:path}", get_model, permission=None),
        key_route("/user", get_user, permission=Permission.USER_INFO),
    ]
