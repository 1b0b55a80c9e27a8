"""Admission and settlement: the limit decisions, made over the counter interface.

Per request, in one counter round trip: the key's requests in the current window; for
metered calls also the account's tokens in the window, the month's tokens against a free
plan's allowance, and the month's spend against the account's own cap. Metered calls reserve
an estimate (prompt characters / 4 plus ``max_tokens`` or the plan's completion estimate) and
settle to the true usage when they end. A call is admitted while a bucket still has room, so
concurrent calls can overshoot an allowance by at most one request's reservation.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from serika.clock import Clock
from serika.errors import RateLimited, SerikaError
from serika.limits.counters import Bucket, Counters, InProcessCounters, Taken
from serika.limits.plans import Plan
from serika.usage.store import UsageStore


class QuotaExceeded(SerikaError):
    status = 402
    type = "insufficient_quota"
    default_code = "usage_limit_reached"


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: str
    key_id: str | None
    tier: str
    spend_limit_micro_usd: int | None


@dataclass(slots=True)
class Admission:
    headers: dict[str, str] = field(default_factory=dict)

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()]

    # (bucket key, reserved amount, ttl in ms, "tokens" or "cost")
    reservations: list[tuple[str, int, int, str]] = field(default_factory=list)


def _month(now: datetime) -> tuple[str, datetime, int]:
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    following = datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=UTC)
    ttl_ms = int((following - now).total_seconds() * 1000) + 86_400_000
    return f"{now.year:04d}{now.month:02d}", start, ttl_ms


def _reset(ttl_ms: int) -> str:
    return f"{max(1, math.ceil(ttl_ms / 1000))}s"


class Limiter:
    def __init__(
        self,
        counters: Counters,
        plans: Mapping[str, Plan],
        usage: UsageStore,
        clock: Clock,
        window_seconds: int,
    ) -> None:
        self._counters = counters
        self._plans = plans
        self._usage = usage
        self._clock = clock
        self._window = window_seconds
        self._seeded: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def plan(self, tier: str) -> Plan:
        return self._plans.get(tier, self._plans["free"])

    def per_window(self, per_minute: int) -> int:
        return 0 if per_minute <= 0 else max(1, math.ceil(per_minute * self._window / 60))

    def completion_estimate(self, tier: str) -> int:
        return self.plan(tier).completion_estimate

    async def admit(
        self, caller: Caller, *, tokens: int = 0, cost: int = 0, metered: bool = False
    ) -> Admission:
        now = self._clock.now()
        plan = self.plan(caller.tier)
        epoch = now.timestamp()
        window = int(epoch // self._window)
        window_ttl = int(((window + 1) * self._window - epoch) * 1000) + 1
        buckets = [
            Bucket(
                f"r:{caller.key_id}:{window}",
                1,
                1,
                self.per_window(plan.requests_per_minute),
                window_ttl,
            )
        ]
        kinds = ["requests"]
        if metered:
            month, month_start, month_ttl = _month(now)
            if plan.monthly_tokens or caller.spend_limit_micro_usd is not None:
                await self._seed_month(caller.user_id, month, month_start, month_ttl)
            buckets.append(
                Bucket(
                    f"t:{caller.user_id}:{window}",
                    tokens,
                    1,
                    self.per_window(plan.tokens_per_minute),
                    window_ttl,
                )
            )
            kinds.append("tokens")
            buckets.append(
                Bucket(f"mt:{caller.user_id}:{month}", tokens, 1, plan.monthly_tokens, month_ttl)
            )
            kinds.append("month_tokens")
            if caller.spend_limit_micro_usd is not None:
                buckets.append(
                    Bucket(
                        f"ms:{caller.user_id}:{month}",
                        cost,
                        1,
                        max(1, caller.spend_limit_micro_usd),
                        month_ttl,
                    )
                )
                kinds.append("month_spend")
        limited = [n for n, bucket in enumerate(buckets) if bucket.limit > 0]
        if len(limited) < len(buckets):  # unlimited buckets need no counting
            buckets = [buckets[n] for n in limited]
            kinds = [kinds[n] for n in limited]
        if not buckets:
            return Admission()
        taken = await self._counters.take(buckets)
        if not taken.admitted:
            raise self._refusal(kinds[taken.failed or 0], buckets[taken.failed or 0], taken)
        admission = Admission(headers=self._headers(buckets, kinds, taken))
        if metered:
            for bucket, kind in zip(buckets, kinds, strict=True):
                if kind == "requests":
                    continue
                amount = cost if kind == "month_spend" else tokens
                unit = "cost" if kind == "month_spend" else "tokens"
                admission.reservations.append((bucket.key, amount, bucket.ttl_ms, unit))
        return admission

    def settle(self, admission: Admission, tokens: int, cost: int) -> None:
        """Replace each reservation by what was really used (in the background)."""
        deltas = [
            (key, (cost if unit == "cost" else tokens) - reserved, ttl)
            for key, reserved, ttl, unit in admission.reservations
        ]
        admission.reservations = []
        deltas = [d for d in deltas if d[1]]
        if deltas and isinstance(self._counters, InProcessCounters):
            for key, delta, ttl in deltas:  # no I/O: settle now, no task
                self._counters.adjust_now(key, delta, ttl)
        elif deltas:
            task = asyncio.get_running_loop().create_task(self._adjust(deltas))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _adjust(self, deltas: list[tuple[str, int, int]]) -> None:
        await self._counters.adjust_many(deltas)

    async def close(self) -> None:
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await task
        await self._counters.close()

    async def _seed_month(self, user_id: str, month: str, start: datetime, ttl_ms: int) -> None:
        """Start this month's buckets from the database once per process (counters may be new)."""
        marker = f"{user_id}:{month}"
        if marker in self._seeded:
            return
        totals = await self._usage.totals_since(user_id, start)
        used_tokens = int(totals["prompt_tokens"]) + int(totals["completion_tokens"])
        await self._counters.seed(f"mt:{user_id}:{month}", used_tokens, ttl_ms)
        await self._counters.seed(f"ms:{user_id}:{month}", int(totals["cost"]), ttl_ms)
        self._seeded.add(marker)

    def _headers(self, buckets: list[Bucket], kinds: list[str], taken: Taken) -> dict[str, str]:
        headers: dict[str, str] = {}
        for bucket, kind, value, ttl in zip(
            buckets, kinds, taken.values, taken.ttls_ms, strict=True
        ):
            if kind in ("requests", "tokens") and bucket.limit > 0:
                headers[f"x-ratelimit-limit-{kind}"] = str(bucket.limit)
                headers[f"x-ratelimit-remaining-{kind}"] = str(max(0, bucket.limit - value))
                headers[f"x-ratelimit-reset-{kind}"] = _reset(ttl)
        return headers

    def _refusal(self, kind: str, bucket: Bucket, taken: Taken) -> SerikaError:
        ttl = taken.ttls_ms[0]
        if kind in ("requests", "tokens"):
            error = RateLimited(
                f"Rate limit reached for {kind}: {bucket.limit} per {self._window} s on this "
                f"{'key' if kind == 'requests' else 'account'}. Try again in {_reset(ttl)}.",
                retry_after=max(1, math.ceil(ttl / 1000)),
            )
            error.headers.update(
                {
                    f"x-ratelimit-limit-{kind}": str(bucket.limit),
                    f"x-ratelimit-remaining-{kind}": "0",
                    f"x-ratelimit-reset-{kind}": _reset(ttl),
                }
            )
            return error
        if kind == "month_tokens":
            return QuotaExceeded(
                f"This account has used its monthly allowance of {bucket.limit} tokens; it "
                "renews on the first of next month (UTC), or move to the premium tier."
            )
        return QuotaExceeded(
            "This account has reached its monthly spending limit of "
            f"${bucket.limit / 1_000_000:.2f}; raise the limit or wait for next month."
        )


def premium_refusal(model_id: str) -> QuotaExceeded:
    return QuotaExceeded(
        f"The model '{model_id}' needs the premium tier; this account is on the free tier.",
        code="premium_model",
        param="model",
    )
