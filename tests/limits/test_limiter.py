"""Limit decisions over in-process counters with a settable clock: windows and calendar months."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from serika.errors import RateLimited
from serika.limits.counters import InProcessCounters
from serika.limits.limiter import Caller, Limiter, QuotaExceeded
from serika.limits.plans import Plan
from tests.support.clock import SettableClock


class NoUsageYet:
    async def totals_since(self, _user_id: str, _start: datetime) -> dict[str, int]:
        return {"prompt_tokens": 0, "completion_tokens": 0, "cost": 0}


CALLER = Caller("usr_1", "key_1", "free", None)


def limiter(clock: SettableClock, plan: Plan) -> Limiter:
    return Limiter(InProcessCounters(), {"free": plan}, NoUsageYet(), clock, 60)  # type: ignore[arg-type]


def test_a_monthly_allowance_refuses_until_the_calendar_month_turns_in_utc() -> None:
    clock = SettableClock(datetime(2026, 11, 30, 23, 59, 0, tzinfo=UTC))
    limits = limiter(clock, Plan(0, 0, 100, 10))

    async def scenario() -> None:
        await limits.admit(CALLER, tokens=60, metered=True)
        await limits.admit(CALLER, tokens=60, metered=True)  # room was left: admitted
        with pytest.raises(QuotaExceeded) as refused:
            await limits.admit(CALLER, tokens=1, metered=True)
        assert refused.value.code == "usage_limit_reached"
        clock.moment = datetime(2026, 11, 30, 23, 59, 59, 999000, tzinfo=UTC)
        with pytest.raises(QuotaExceeded):
            await limits.admit(CALLER, tokens=1, metered=True)
        clock.moment = datetime(2026, 12, 1, tzinfo=UTC)  # December, UTC
        admission = await limits.admit(CALLER, tokens=60, metered=True)
        assert [r[0] for r in admission.reservations] == ["mt:usr_1:202612"]

    asyncio.run(scenario())


def test_the_year_turns_too() -> None:
    clock = SettableClock(datetime(2026, 12, 31, 23, 0, tzinfo=UTC))
    limits = limiter(clock, Plan(0, 0, 10, 10))

    async def scenario() -> None:
        await limits.admit(CALLER, tokens=10, metered=True)
        with pytest.raises(QuotaExceeded):
            await limits.admit(CALLER, tokens=1, metered=True)
        clock.moment += timedelta(hours=1)
        admission = await limits.admit(CALLER, tokens=10, metered=True)
        assert [r[0] for r in admission.reservations] == ["mt:usr_1:202701"]

    asyncio.run(scenario())


def test_requests_per_window_carry_openai_headers_and_refuse_with_retry_after() -> None:
    clock = SettableClock(datetime(2026, 11, 27, 12, 0, 10, 500000, tzinfo=UTC))  # 49.5 s left
    limits = limiter(clock, Plan(2, 0, 0, 10))

    async def scenario() -> None:
        first = (await limits.admit(CALLER)).headers
        assert first == {
            "x-ratelimit-limit-requests": "2",
            "x-ratelimit-remaining-requests": "1",
            "x-ratelimit-reset-requests": "50s",
        }
        assert (await limits.admit(CALLER)).headers["x-ratelimit-remaining-requests"] == "0"
        with pytest.raises(RateLimited) as refused:
            await limits.admit(CALLER)
        assert refused.value.headers["Retry-After"] == "50"
        assert refused.value.headers["x-ratelimit-remaining-requests"] == "0"
        clock.moment += timedelta(seconds=50)  # the next window
        assert (await limits.admit(CALLER)).headers["x-ratelimit-remaining-requests"] == "1"

    asyncio.run(scenario())


def test_a_call_refused_by_its_allowance_takes_nothing_from_its_other_buckets() -> None:
    clock = SettableClock(datetime(2026, 11, 27, 12, 0, 10, tzinfo=UTC))
    limits = limiter(clock, Plan(3, 0, 100, 10))

    async def scenario() -> None:
        admission = await limits.admit(CALLER, tokens=100, metered=True)
        assert admission.headers["x-ratelimit-remaining-requests"] == "2"
        for _ in range(3):  # the month is used up: refused after the request bucket took one
            with pytest.raises(QuotaExceeded):
                await limits.admit(CALLER, tokens=1, metered=True)
        limits.settle(admission, 40, 0)  # it used 40 of the 100 it reserved
        admission = await limits.admit(CALLER, tokens=60, metered=True)
        assert admission.headers["x-ratelimit-remaining-requests"] == "1"
        assert (await limits.admit(CALLER)).headers["x-ratelimit-remaining-requests"] == "0"
        with pytest.raises(RateLimited):
            await limits.admit(CALLER, tokens=1, metered=True)

    asyncio.run(scenario())
