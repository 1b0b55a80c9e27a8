"""``GET /usage``: for a signed-in session, or a key with ``user_info``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from serika.keys.permissions import Permission
from serika.web.responses import JSON
from serika.web.routing import account_route, services


async def usage(request: Request, user_id: str) -> Response:
    query = request.query_params
    found = services(request)
    report = await found.reports.report(
        user_id, query.get("start_date"), query.get("end_date"), query.get("key_id")
    )
    report["limits"] = await found.reports.plan_status(await found.accounts.user(user_id))
    return JSON(report)


def routes() -> list[Route]:
    return [account_route("/usage", usage, permission=Permission.USER_INFO)]
