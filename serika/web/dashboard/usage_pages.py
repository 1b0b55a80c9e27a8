"""Usage: the report of ``GET /usage`` as charts by day and tables by key, endpoint and model,
with the account's tier and monthly allowance (the profile ``GET /user`` answers)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from serika.accounts.model import Session
from serika.errors import SerikaError
from serika.web.api_customer import account_profile
from serika.web.dashboard.view import View, is_htmx
from serika.web.routing import services

# Charts show every day of the range (zeros included) up to this many days; longer ranges plot
# only the days that had requests.
MAX_FILLED_DAYS = 800
SERIES = ("total_requests", "total_tokens", "total_images", "cost")


def chart_days(report: dict[str, Any]) -> list[dict[str, Any]]:
    """``by_day`` with the quiet days of the range filled in as zeros, oldest first."""
    rows = {row["date"]: row for row in report["by_day"]}
    start, end = date.fromisoformat(report["start_date"]), date.fromisoformat(report["end_date"])
    if (end - start).days >= MAX_FILLED_DAYS:
        return list(report["by_day"])
    days = []
    day = start
    while day <= end:
        days.append(rows.get(day.isoformat(), {"date": day.isoformat()} | dict.fromkeys(SERIES, 0)))
        day += timedelta(days=1)
    return days


def chart_data(report: dict[str, Any]) -> str:
    """What usage.js plots, as JSON for a data attribute (escaped by the template)."""
    days = chart_days(report)
    data = {"labels": [d["date"] for d in days]} | {
        name: [d[name] for d in days] for name in SERIES
    }
    return orjson.dumps(data).decode()


class UsagePages:
    def __init__(self, view: View) -> None:
        self.view = view

    async def usage(self, request: Request, session: Session) -> Response:
        found = services(request)
        query = request.query_params
        start, end = query.get("start_date") or None, query.get("end_date") or None
        context: dict[str, Any] = {"start_date": start or "", "end_date": end or ""}
        status = 200
        try:
            report = await found.reports.report(session.user.id, start, end, None)
        except SerikaError as error:  # a malformed or reversed date range
            report = await found.reports.report(session.user.id, None, None, None)
            context["error"] = error.message
            status = error.status
        context.update(
            report=report,
            chart=chart_data(report),
            start_date=context["start_date"] or report["start_date"],
            end_date=context["end_date"] or report["end_date"],
        )
        if is_htmx(request):
            return self.view.render(
                request, "usage_report.html", context, session=session, status_code=200
            )
        context["profile"] = await account_profile(found, session.user)
        return self.view.render(request, "usage.html", context, session=session, status_code=status)

    def routes(self) -> list[Route]:
        return [self.view.page("/usage", self.usage)]
