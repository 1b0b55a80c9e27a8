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
from typing import Any, NamedTuple

from serika.clock import Clock
from serika.errors import RateLimited, SerikaError
from serika.header_lines import pairs_of
from serika.limits.counters import Counters, InProcessCounters, PlannedBucket, Taken
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


_HEADED_KINDS = ("requests", "tokens")  # the buckets OpenAI's x-ratelimit-* headers describe


def _header_lines(kind: str, limit: int) -> bytes:
    """The ``x-ratelimit-*`` lines of a bucket, to be filled in with ``%`` (what remains, and
    the reset time)."""
    return (
        f"x-ratelimit-limit-{kind}: {limit}\r\nx-ratelimit-remaining-{kind}: %d\r\n"
        f"x-ratelimit-reset-{kind}: %s\r\n"
    ).encode()


class Admission(NamedTuple):
    """What an admitted call carries: its ``x-ratelimit-*`` headers (as header lines made
    only from their names and numbers, see ``serika.web.head_lines``), the buckets it reserved
    in (its plan's ``(index, key, ttl in ms, "tokens" or "cost")``: shared, not built per
    call), the tokens and cost it reserved there, and its plan's settlement (as the counters
    settle it), to settle at the end."""

    head: bytes = b""
    lines: int = 0  # how many lines ``head`` has (the server checks it)
    reserved: Sequence[tuple[int, str, int, str]] = ()
    tokens: int = 0
    cost: int = 0
    settling: Any = None

    @property
    def reservations(self) -> list[tuple[str, int, int, str]]:
        """``(bucket key, amount, ttl in ms, "tokens" or "cost")`` for each reservation."""
        return [
            (key, self.cost if unit == _COST else self.tokens, ttl, unit)
            for _, key, ttl, unit in self.reserved
        ]

    @property
    def reserved_cost(self) -> int:
        """What the call reserved against the spending cap (micro-USD; 0 without a cap)."""
        return self.cost if any(unit == _COST for *_, unit in self.reserved) else 0

    @property
    def headers(self) -> dict[str, str]:
        return {k.decode("latin-1"): v.decode("latin-1") for k, v in pairs_of(self.head)}


# What a bucket takes per call: one request, the call's tokens, or its cost.
_BY_REQUEST, _BY_TOKENS, _BY_COST = 0, 1, 2


class _Plan(NamedTuple):
    """A caller's buckets for one rate window (and month), worked out once per window so that
    a call only fills in its amounts. The ttls are counted from when the plan was made: they
    only give a new bucket its expiry, and a bucket outliving its window by less than a window
    changes nothing (its key names the window)."""

    begins: float
    ends: float  # the window's end, or the month's when sooner
    window_ends: float
    buckets: tuple[PlannedBucket, ...]  # key, unit (_BY_*), limit, ttl_ms
    kinds: tuple[str, ...]  # what each bucket counts (refusals name it)
    counted: tuple[tuple[int, int], ...]  # the buckets the headers describe: index, limit
    head: bytes  # their header lines, to fill in (what remains and the reset of each)
    lines: int  # how many
    # The buckets settled to the true usage when the call ends: index, key, ttl_ms, unit.
    reserved: tuple[tuple[int, str, int, str], ...]
    prepared: Any  # the buckets as the counters take from them (``Counters.prepare``)
    settling: Any  # the reserved buckets as the counters settle them (None: none)

    def window_ttl(self, epoch: float) -> int:
        """Milliseconds from ``epoch`` until the rate window ends (at least 1)."""
        return int((self.window_ends - epoch) * 1000) + 1

    def seconds_left(self, epoch: float) -> int:
        """``window_ttl`` in whole seconds, rounded up."""
        return int(self.window_ends - epoch) + 1


_Spec = tuple[str, str, int, int, int]  # key, kind, unit, limit, ttl_ms
_TakePlanned = Callable[[Any, Sequence[int]], Taken]  # in-process take_planned


def _plan_of(
    specs: Sequence[_Spec], begins: float, ends: float, window_ends: float, counters: Counters
) -> _Plan:
    buckets = tuple((key, unit, limit, ttl) for key, _, unit, limit, ttl in specs)
    # settled with the deltas (tokens, cost): which is 0 for tokens, 1 for cost
    settled = tuple(
        (key, int(unit == _BY_COST), ttl) for key, kind, unit, _, ttl in specs if kind != _REQUESTS
    )
    counted = tuple(
        (n, limit) for n, (_, kind, _, limit, _) in enumerate(specs) if kind in _HEADED_KINDS
    )
    return _Plan(
        begins,
        ends,
        window_ends,
        buckets,
        tuple(kind for _, kind, _, _, _ in specs),
        counted,
        b"".join(_header_lines(specs[n][1], limit) for n, limit in counted),
        3 * len(counted),
        tuple(
            (n, key, ttl, _COST if unit == _BY_COST else _TOKENS)
            for n, (key, kind, unit, _, ttl) in enumerate(specs)
            if kind != _REQUESTS
        ),
        counters.prepare(buckets),
        counters.prepare_settlement(settled) if settled else None,
    )


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
        self._take_planned: _TakePlanned | None = None
        self._take_one: Callable[[str, int, int], tuple[bool, int, int]] | None = None
        if isinstance(counters, InProcessCounters):  # these never wait: no coroutine needed
            self._take_planned = counters.take_planned
            self._take_one = counters.take_one
        # x-ratelimit-reset values of window buckets, by whole seconds left ("1s" at least).
        self._resets = [f"{max(1, seconds)}s".encode() for seconds in range(window_seconds + 2)]
        self._tiers = {tier: self._tier_limits(plan) for tier, plan in plans.items()}
        self._month = _Month.of(clock.time())  # worked out again when the month turns
        # Each caller's plan for the current window: unmetered calls count requests only.
        self._plain: dict[Caller, _Plan] = {}
        self._metered: dict[Caller, _Plan] = {}

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
        take_one = self._take_one
        return None if take_one is None else self._admit_one(caller, take_one)

    def _admit_one(
        self, caller: Caller, take_one: Callable[[str, int, int], tuple[bool, int, int]]
    ) -> Admission:
        epoch = self._clock.time()
        plan = self._plain_plan(caller, epoch)
        if not plan.buckets:
            return _NOTHING_COUNTED
        key, _, limit, ttl_ms = plan.buckets[0]
        admitted, value, ttl = take_one(key, limit, ttl_ms)
        if not admitted:
            raise self._refusal(_REQUESTS, limit, ttl)
        reset = self._reset_text(plan.seconds_left(epoch))
        return Admission(plan.head % (limit - value if value < limit else 0, reset), plan.lines)

    async def admit(
        self, caller: Caller, *, tokens: int = 0, cost: int = 0, metered: bool = False
    ) -> Admission:
        if not metered and self._take_one is not None:  # in-process: nothing to await
            return self._admit_one(caller, self._take_one)
        epoch = self._clock.time()
        if metered:
            plan = self._metered.get(caller)
            if plan is None or not plan.begins <= epoch < plan.ends:
                plan = await self._metered_plan(caller, epoch)
        else:
            plan = self._plain_plan(caller, epoch)
        if not plan.buckets:
            return _NOTHING_COUNTED
        amounts = (1, tokens, cost)
        take_planned = self._take_planned
        if take_planned is not None:  # in-process: nothing to await
            taken = take_planned(plan.prepared, amounts)
        else:
            taken = await self._counters.take_prepared(plan.prepared, amounts)
        if not taken.admitted:
            failed = taken.failed or 0
            window_ttl = plan.window_ttl(epoch)
            raise self._refusal(plan.kinds[failed], plan.buckets[failed][2], window_ttl)
        reset = self._reset_text(plan.seconds_left(epoch))
        values = taken.values
        fill: list[int | bytes] = []
        for n, limit in plan.counted:
            value = values[n]
            fill += (limit - value if value < limit else 0, reset)
        head = plan.head % tuple(fill)
        # Admission(...) without the Python-level __new__ of a NamedTuple's call
        return tuple.__new__(
            Admission, (head, plan.lines, plan.reserved, tokens, cost, plan.settling)
        )

    def _window_specs(
        self, caller: Caller, epoch: float
    ) -> tuple[_TierLimits, int, float, float, int, list[_Spec]]:
        """The caller's limits; the rate window ``epoch`` falls in (its number, start, end,
        and the milliseconds until it ends, at least 1); and the window's request bucket."""
        limits = self._tiers.get(caller.tier) or self._tiers["free"]
        window = int(epoch // self._window)
        begins = float(window * self._window)
        ends = begins + self._window
        ttl = int((ends - epoch) * 1000) + 1
        specs: list[_Spec] = []
        if limits.requests:
            key = f"r:{caller.key_id}:{window}"
            specs.append((key, _REQUESTS, _BY_REQUEST, limits.requests, ttl))
        return limits, window, begins, ends, ttl, specs

    def _plain_plan(self, caller: Caller, epoch: float) -> _Plan:
        """The caller's plan for unmetered calls (its request bucket) at ``epoch``."""
        plan = self._plain.get(caller)
        if plan is None or not plan.begins <= epoch < plan.ends:
            _, _, begins, ends, _, specs = self._window_specs(caller, epoch)
            built = _plan_of(specs, begins, ends, ends, self._counters)
            plan = self._remember(self._plain, caller, built)
        return plan

    async def _metered_plan(self, caller: Caller, epoch: float) -> _Plan:
        limits, window, begins, ends, ttl, specs = self._window_specs(caller, epoch)
        month = self._month
        if not month.begins <= epoch < month.ends:
            month = self._month = _Month.of(epoch)
        month_ttl = month.bucket_ttl_ms(epoch)
        plan, user_id, spend_limit = limits.plan, caller.user_id, caller.spend_limit_micro_usd
        if (plan.monthly_tokens or spend_limit is not None) and (
            user_id,
            month.name,
        ) not in self._seeded:
            await self._seed_month(user_id, month.name, month.start, month_ttl)
        if limits.tokens:
            key = f"t:{user_id}:{window}"
            specs.append((key, _TOKENS, _BY_TOKENS, limits.tokens, ttl))
        if plan.monthly_tokens:
            key = f"mt:{user_id}:{month.name}"
            specs.append((key, _MONTH_TOKENS, _BY_TOKENS, plan.monthly_tokens, month_ttl))
        if spend_limit is not None:
            key = f"ms:{user_id}:{month.name}"
            specs.append((key, _MONTH_SPEND, _BY_COST, max(1, spend_limit), month_ttl))
        valid = (max(begins, month.begins), min(ends, month.ends))
        built = _plan_of(specs, *valid, ends, self._counters)
        return self._remember(self._metered, caller, built)

    @staticmethod
    def _remember(plans: dict[Caller, _Plan], caller: Caller, plan: _Plan) -> _Plan:
        if len(plans) >= 50_000:  # plans name their window: most are soon unused
            plans.clear()
        plans[caller] = plan
        return plan

    def settle(self, admission: Admission, tokens: int, cost: int) -> None:
        """Replace each reservation by what was really used (no waiting: in-process counters
        apply it at once, Redis sends it with the next decision or within 50 ms)."""
        settling = admission.settling
        if settling is not None:
            deltas = (tokens - admission.tokens, cost - admission.cost)
            if deltas[0] or deltas[1]:
                self._counters.settle_prepared(settling, deltas)

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

    def _reset_text(self, seconds: int) -> bytes:
        """An ``x-ratelimit-reset-*`` value: the whole seconds left ("1s" at least)."""
        return self._resets[seconds] if seconds < len(self._resets) else b"%ds" % seconds

    def _refusal(self, kind: str, limit: int, ttl: int) -> SerikaError:
        if kind in ("requests", "tokens"):
            reset = self._reset_text(-(-ttl // 1000)).decode()
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
