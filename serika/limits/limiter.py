"""Admission and settlement: the limit decisions, made over the counter interface.

Per request, in one counter round trip: the key's requests in the current window; for
metered calls also the account's tokens in the window, the month's tokens against a free
plan's allowance, and the month's spend against the account's own cap. Metered calls reserve
an estimate (prompt characters / 4 plus ``max_tokens`` or the plan's completion estimate) and
settle to the true usage when they end. A call is admitted while a bucket still has room, so
concurrent calls can overshoot an allowance by at most one request's reservation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from serika.clock import Clock
from serika.errors import RateLimited, SerikaError
from serika.limits.counters import BucketFields, Counters, InProcessCounters, Taken
from serika.limits.plans import Plan
from serika.usage.store import UsageStore


class QuotaExceeded(SerikaError):
    status = 402
    type = "insufficient_quota"
    default_code = "usage_limit_reached"


class Caller(NamedTuple):  # built on every request: a tuple is the cheapest record
    user_id: str
    key_id: str | None
    tier: str
    spend_limit_micro_usd: int | None


RawHeaders = list[tuple[bytes, bytes]]
_HEADER_NAMES = {
    kind: (
        f"x-ratelimit-limit-{kind}".encode(),
        f"x-ratelimit-remaining-{kind}".encode(),
        f"x-ratelimit-reset-{kind}".encode(),
    )
    for kind in ("requests", "tokens")
}


class Admission(NamedTuple):
    """What an admitted call carries: its ``x-ratelimit-*`` headers (raw pairs) and what it
    reserved: ``(bucket key, amount, ttl in ms, "tokens" or "cost")`` to settle at the end."""

    raw_headers: Sequence[tuple[bytes, bytes]] = ()
    reservations: Sequence[tuple[str, int, int, str]] = ()

    @property
    def reserved_cost(self) -> int:
        """What the call reserved against the spending cap (micro-USD; 0 without a cap)."""
        return sum(amount for _, amount, _, unit in self.reservations if unit == _COST)

    @property
    def headers(self) -> dict[str, str]:
        return {k.decode("latin-1"): v.decode("latin-1") for k, v in self.raw_headers}


class _TierLimits(NamedTuple):
    """A plan's window limits, worked out once (``0``: unlimited)."""

    plan: Plan
    requests: int
    tokens: int


_NOTHING_COUNTED = Admission()
# Bucket kinds; the x-ratelimit headers name the first two.
_REQUESTS = "requests"
_TOKENS = "tokens"
_MONTH_TOKENS = "month_tokens"
_MONTH_SPEND = "month_spend"
_COST = "cost"


class _Month(NamedTuple):
    """A calendar month (UTC): its bucket suffix, its first moment, and when the next begins."""

    name: str
    start: datetime
    begins: float  # seconds since the epoch
    ends: float

    @classmethod
    def of(cls, epoch: float) -> _Month:
        now = datetime.fromtimestamp(epoch, UTC)
        start = datetime(now.year, now.month, 1, tzinfo=UTC)
        following = datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=UTC)
        name = f"{now.year:04d}{now.month:02d}"
        return cls(name, start, start.timestamp(), following.timestamp())

    def bucket_ttl_ms(self, epoch: float) -> int:
        """How long this month's buckets live from ``epoch``: to a day after the month ends
        (its last requests settle after it ends)."""
        return int((self.ends - epoch) * 1000) + 86_400_000


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
        self._usage = usage
        self._clock = clock
        self._window = window_seconds
        self._seeded: set[tuple[str, str]] = set()  # (user id, month) started from the database
        # In-process counters never wait: take without a coroutine.
        self._take_now: Callable[[Sequence[BucketFields]], Taken] | None = None
        self._take_one: Callable[[str, int, int], tuple[bool, int, int]] | None = None
        if isinstance(counters, InProcessCounters):  # these never wait: no coroutine needed
            self._take_now = counters.take_now
            self._take_one = counters.take_one
        # x-ratelimit-reset values of window buckets, by whole seconds left ("1s" at least).
        self._resets = [f"{max(1, seconds)}s".encode() for seconds in range(window_seconds + 2)]
        self._tiers = {tier: self._tier_limits(plan) for tier, plan in plans.items()}
        self._month = _Month.of(clock.time())  # worked out again when the month turns

    def _tier_limits(self, plan: Plan) -> _TierLimits:
        return _TierLimits(
            plan, self.per_window(plan.requests_per_minute), self.per_window(plan.tokens_per_minute)
        )

    def plan(self, tier: str) -> Plan:
        return (self._tiers.get(tier) or self._tiers["free"]).plan

    def per_window(self, per_minute: int) -> int:
        return 0 if per_minute <= 0 else max(1, math.ceil(per_minute * self._window / 60))

    def completion_estimate(self, tier: str) -> int:
        return self.plan(tier).completion_estimate

    def admit_now(self, caller: Caller) -> Admission | None:
        """``admit(caller)`` (an unmetered call) without a coroutine, when the counters need
        no I/O (in-process); ``None`` when it has to be awaited."""
        if self._take_one is None:
            return None
        limits = self._tiers.get(caller.tier) or self._tiers["free"]
        if limits.requests == 0:
            return _NOTHING_COUNTED
        epoch = self._clock.time()
        window, window_ttl = self._window_of(epoch)
        taken = self._take_one(f"r:{caller.key_id}:{window}", limits.requests, window_ttl)
        return self._requests_admission(limits.requests, *taken)

    async def admit(
        self, caller: Caller, *, tokens: int = 0, cost: int = 0, metered: bool = False
    ) -> Admission:
        if not metered:  # the common unmetered call: one bucket, without waiting if it can
            admission = self.admit_now(caller)
            if admission is not None:
                return admission
        epoch = self._clock.time()
        limits = self._tiers.get(caller.tier) or self._tiers["free"]
        window, window_ttl = self._window_of(epoch)
        # Only limited buckets are counted (0: unlimited), as plain tuples (see BucketFields);
        # kinds[n] names buckets[n].
        kinds: list[str] = []
        buckets: list[BucketFields] = []
        if limits.requests:
            kinds.append(_REQUESTS)
            buckets.append((f"r:{caller.key_id}:{window}", 1, 1, limits.requests, window_ttl))
        if metered:
            plan = limits.plan
            month = self._month
            if not month.begins <= epoch < month.ends:
                month = self._month = _Month.of(epoch)
            month_ttl = month.bucket_ttl_ms(epoch)
            user_id = caller.user_id
            spend_limit = caller.spend_limit_micro_usd
            if (plan.monthly_tokens or spend_limit is not None) and (
                user_id,
                month.name,
            ) not in self._seeded:
                await self._seed_month(user_id, month.name, month.start, month_ttl)
            if limits.tokens:
                kinds.append(_TOKENS)
                buckets.append((f"t:{user_id}:{window}", tokens, 1, limits.tokens, window_ttl))
            if plan.monthly_tokens:
                kinds.append(_MONTH_TOKENS)
                key = f"mt:{user_id}:{month.name}"
                buckets.append((key, tokens, 1, plan.monthly_tokens, month_ttl))
            if spend_limit is not None:
                kinds.append(_MONTH_SPEND)
                key = f"ms:{user_id}:{month.name}"
                buckets.append((key, cost, 1, max(1, spend_limit), month_ttl))
        if not buckets:
            return _NOTHING_COUNTED
        take_now = self._take_now
        taken = take_now(buckets) if take_now is not None else await self._counters.take(buckets)
        if not taken.admitted:
            failed = taken.failed or 0
            raise self._refusal(kinds[failed], buckets[failed][3], window_ttl)
        headers: RawHeaders = []
        reservations = []
        reset = self._reset_text(window_ttl)
        for kind, (key, amount, _, limit, ttl), value in zip(
            kinds, buckets, taken.values, strict=True
        ):
            if kind in _HEADER_NAMES:  # the requests and tokens of the window
                headers += self._rate_headers(kind, limit, value, reset)
            if kind != _REQUESTS:  # reserved: settled to the true usage when the call ends
                reservations.append((key, amount, ttl, _COST if kind == _MONTH_SPEND else _TOKENS))
        return Admission(headers, reservations)

    def settle(self, admission: Admission, tokens: int, cost: int) -> None:
        """Replace each reservation by what was really used (no waiting: in-process counters
        apply it at once, Redis sends it with the next decision or within 50 ms)."""
        if not admission.reservations:
            return
        deltas = [
            (key, delta, ttl)
            for key, reserved, ttl, unit in admission.reservations
            if (delta := (cost if unit == _COST else tokens) - reserved)
        ]
        if deltas:
            self._counters.adjust_soon(deltas)

    def settle_reserved_cost(
        self, user_id: str, reserved_at: float, reserved: int, cost: int
    ) -> None:
        """Settle a cost an earlier call reserved (an image job's, when it was submitted; the
        job may end in another process, or after a restart): the spending bucket of the month
        it was reserved in gets the difference."""
        if not reserved or cost == reserved:
            return
        month = _Month.of(reserved_at)
        ttl_ms = month.bucket_ttl_ms(self._clock.time())
        if ttl_ms > 0:  # else that month's bucket is gone, and the reservation with it
            self._counters.adjust_soon([(f"ms:{user_id}:{month.name}", cost - reserved, ttl_ms)])

    async def close(self) -> None:
        await self._counters.close()  # sends what is still to settle

    async def _seed_month(self, user_id: str, month: str, start: datetime, ttl_ms: int) -> None:
        """Start this month's buckets from the database (once per process: the caller checks
        ``_seeded``; counters may be new)."""
        totals = await self._usage.totals_since(user_id, start)
        used_tokens = int(totals["prompt_tokens"]) + int(totals["completion_tokens"])
        await self._counters.seed(f"mt:{user_id}:{month}", used_tokens, ttl_ms)
        await self._counters.seed(f"ms:{user_id}:{month}", int(totals["cost"]), ttl_ms)
        self._seeded.add((user_id, month))

    def _window_of(self, epoch: float) -> tuple[int, int]:
        """The rate window ``epoch`` falls in, and the milliseconds until it ends (at least 1)."""
        window = int(epoch // self._window)
        return window, int(((window + 1) * self._window - epoch) * 1000) + 1

    def _requests_admission(self, limit: int, admitted: bool, value: int, ttl: int) -> Admission:
        if not admitted:
            raise self._refusal("requests", limit, ttl)
        return Admission(self._rate_headers("requests", limit, value, self._reset_text(ttl)))

    def _reset_text(self, ttl_ms: int) -> bytes:
        """An ``x-ratelimit-reset-*`` value: whole seconds left, rounded up ("1s" at least)."""
        seconds = -(-ttl_ms // 1000)
        return self._resets[seconds] if seconds < len(self._resets) else b"%ds" % seconds

    @staticmethod
    def _rate_headers(kind: str, limit: int, value: int, reset: bytes) -> RawHeaders:
        """OpenAI's three ``x-ratelimit-*`` headers for one counted bucket, as raw pairs
        (``reset``: from ``_reset_text``, worked out once per call for all its buckets)."""
        limit_name, remaining_name, reset_name = _HEADER_NAMES[kind]
        return [
            (limit_name, b"%d" % limit),
            (remaining_name, b"%d" % max(0, limit - value)),
            (reset_name, reset),
        ]

    def _refusal(self, kind: str, limit: int, ttl: int) -> SerikaError:
        if kind in ("requests", "tokens"):
            reset = self._reset_text(ttl).decode()
            error = RateLimited(
                f"Rate limit reached for {kind}: {limit} per {self._window} s on this "
                f"{'key' if kind == 'requests' else 'account'}. Try again in {reset}.",
                retry_after=max(1, math.ceil(ttl / 1000)),
            )
            error.headers.update(
                {
                    f"x-ratelimit-limit-{kind}": str(limit),
                    f"x-ratelimit-remaining-{kind}": "0",
                    f"x-ratelimit-reset-{kind}": reset,
                }
            )
            return error
        if kind == "month_tokens":
            return QuotaExceeded(
                f"This account has used its monthly allowance of {limit} tokens; it "
                "renews on the first of next month (UTC), or move to the premium tier."
            )
        return QuotaExceeded(
            "This account has reached its monthly spending limit of "
            f"${limit / 1_000_000:.2f}; raise the limit or wait for next month."
        )


def premium_refusal(model_id: str) -> QuotaExceeded:
    return QuotaExceeded(
        f"The model '{model_id}' needs the premium tier; this account is on the free tier.",
        code="premium_model",
        param="model",
    )
