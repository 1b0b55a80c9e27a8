"""GET /usage: the date range, the key filter, and the report's shape."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from serika.accounts.model import User
from serika.clock import Clock
from serika.errors import InvalidRequest, NotFound
from serika.keys.store import KeyStore
from serika.limits.plans import Plan
from serika.usage.meter import Meter
from serika.usage.store import UsageFilter, UsageStore

DEFAULT_DAYS = 30
DELETED_KEY = "deleted key"


def parse_day(value: str | None, param: str) -> date | None:
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise InvalidRequest(f"{param} must be a date like 2026-01-31", param=param) from None


def _totals(row: dict[str, Any]) -> dict[str, Any]:
    prompt, completion = int(row["prompt_tokens"]), int(row["completion_tokens"])
    return {
        "total_requests": int(row["total_requests"]),
        "successful_requests": int(row["successful"]),
        "failed_requests": int(row["failed"]),
        "total_tokens": prompt + completion,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_images": int(row["images"]),
        "cost": round(int(row["cost"]) / 1_000_000, 6),
    }


class UsageReports:
    def __init__(
        self,
        store: UsageStore,
        keys: KeyStore,
        meter: Meter,
        clock: Clock,
        plans: Mapping[str, Plan],
    ) -> None:
        self._plans = plans
        self._store = store
        self._keys = keys
        self._meter = meter
        self._clock = clock

    async def this_month(self, user_id: str) -> dict[str, Any]:
        """This calendar month's (UTC) totals, as the profile shows them."""
        now = self._clock.now()
        start = datetime(now.year, now.month, 1, tzinfo=UTC)
        await self._meter.flush_usage()
        totals = _totals(await self._store.totals_since(user_id, start))
        return {"period_start": start.date().isoformat(), **totals}

    async def plan_status(self, user: User, month: dict[str, Any] | None = None) -> dict[str, Any]:
        """The tier, its limits, and this month's use against them: what is used, what is left.

        ``month`` is ``this_month(user.id)`` when the caller already has it."""
        if month is None:
            month = await self.this_month(user.id)
        plan = self._plans.get(user.tier.value, self._plans["free"])
        allowance = plan.monthly_tokens or None
        cap = user.spend_limit_micro_usd
        start = date.fromisoformat(month["period_start"])
        renews = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
        return {
            "tier": user.tier.value,
            "period_start": month["period_start"],
            "renews_on": renews.isoformat(),
            "requests_per_minute": plan.requests_per_minute or None,
            "tokens_per_minute": plan.tokens_per_minute or None,
            "monthly_tokens": allowance,
            "monthly_tokens_used": month["total_tokens"],
            "monthly_tokens_left": (
                max(0, allowance - month["total_tokens"]) if allowance else None
            ),
            "monthly_spending_limit": cap / 1_000_000 if cap is not None else None,
            "monthly_spend": month["cost"],
            "monthly_spend_left": (
                max(0.0, round((cap - month["cost"] * 1_000_000) / 1_000_000, 6))
                if cap is not None
                else None
            ),
        }

    async def report(
        self, user_id: str, start_date: str | None, end_date: str | None, key_id: str | None
    ) -> dict[str, Any]:
        today = self._clock.now().date()
        end = parse_day(end_date, "end_date") or today
        start = parse_day(start_date, "start_date") or end - timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            raise InvalidRequest("start_date must not be after end_date", param="start_date")
        if key_id:
            owned = await self._keys.get_for_user(user_id, key_id) is not None
            if not owned and not await self._store.key_was_used(user_id, key_id):
                raise NotFound(f"no API key with id {key_id!r}", param="key_id")
        await self._meter.flush_usage()  # this process's latest requests count too
        rows = await self._store.report(
            UsageFilter(
                user_id=user_id,
                start=datetime.combine(start, time.min, tzinfo=UTC),
                end=datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC),
                key_id=key_id or None,
            )
        )
        return {
            "object": "usage",
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "key_id": key_id or None,
            "summary": _totals(rows["summary"][0]),
            "by_endpoint": [{"endpoint": r["endpoint"], **_totals(r)} for r in rows["by_endpoint"]],
            "by_model": [{"model": r["model"], **_totals(r)} for r in rows["by_model"]],
            "by_key": [
                {
                    "key_id": r["key_id"],
                    "name": r["name"] if r["name"] is not None else DELETED_KEY,
                    "deleted": r["name"] is None,
                    **_totals(r),
                }
                for r in rows["by_key"]
            ],
            "by_day": [{"date": str(r["day"]), **_totals(r)} for r in rows["by_day"]],
        }
