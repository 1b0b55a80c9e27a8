"""The counter primitive, the same tests on both implementations (in process, real Redis)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import pytest

from serika.limits.counters import Bucket, Counters, InProcessCounters
from serika.limits.redis_counters import RedisCounters
from tests.support.redis import redis_url


@pytest.fixture(params=["in-process", "redis"])
def make_counters(request: pytest.FixtureRequest) -> Iterator[type]:
    if request.param == "in-process":
        yield InProcessCounters
    else:
        prefix = f"test:{secrets.token_hex(4)}:"
        yield lambda: RedisCounters(redis_url(), prefix=prefix)  # type: ignore[misc]


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_take_admits_until_the_limit_then_refuses(make_counters: type) -> None:
    async def scenario() -> None:
        counters: Counters = make_counters()
        try:
            bucket = Bucket("k", 1, 1, 3, 60_000)
            results = [await counters.take([bucket]) for _ in range(4)]
            assert [r.admitted for r in results] == [True, True, True, False]
            assert [r.values[0] for r in results[:3]] == [1, 2, 3]
            refused = results[3]
            assert refused.failed == 0 and refused.values == (3,)
        finally:
            await counters.close()

    run(scenario())


def test_take_is_all_or_nothing(make_counters: type) -> None:
    async def scenario() -> None:
        counters: Counters = make_counters()
        try:
            roomy = Bucket("a", 5, 1, 100, 60_000)
            full = Bucket("b", 1, 1, 1, 60_000)
            assert (await counters.take([full])).admitted
            refused = await counters.take([roomy, full])
            assert not refused.admitted and refused.failed == 1
            again = await counters.take([roomy])
            assert again.values == (5,)  # the refused take added nothing to "a"
        finally:
            await counters.close()

    run(scenario())


def test_soft_limits_admit_while_there_is_room(make_counters: type) -> None:
    async def scenario() -> None:
        counters: Counters = make_counters()
        try:
            # a token bucket: needs 1 token of room, reserves 40
            bucket = Bucket("t", 40, 1, 100, 60_000)
            admitted = [(await counters.take([bucket])).admitted for _ in range(4)]
            assert admitted == [True, True, True, False]  # 0, 40, 80 had room; 120 has none
            counters.adjust_soon([("t", -50, 60_000)])  # settled below the reservation
            assert (await counters.take([bucket])).admitted
        finally:
            await counters.close()

    run(scenario())


def test_seed_only_fills_a_missing_bucket(make_counters: type) -> None:
    async def scenario() -> None:
        counters: Counters = make_counters()
        try:
            await counters.seed("m", 7, 60_000)
            await counters.seed("m", 100, 60_000)
            taken = await counters.take([Bucket("m", 1, 1, 0, 60_000)])
            assert taken.values == (8,)
        finally:
            await counters.close()

    run(scenario())


def test_concurrent_takes_never_exceed_the_limit(make_counters: type) -> None:
    async def scenario() -> None:
        counters: Counters = make_counters()
        try:
            bucket = Bucket("c", 1, 1, 10, 60_000)
            results = await asyncio.gather(*(counters.take([bucket]) for _ in range(50)))
            assert sum(r.admitted for r in results) == 10
        finally:
            await counters.close()

    run(scenario())


def test_seed_after_a_settlement_of_the_same_bucket_keeps_it(make_counters: type) -> None:
    async def scenario() -> None:
        counters: Counters = make_counters()
        try:
            counters.adjust_soon([("s", 5, 60_000)])
            await counters.seed("s", 100, 60_000)  # the bucket exists now: not seeded
            taken = await counters.take([Bucket("s", 0, 1, 0, 60_000)])
            assert taken.values == (5,)
        finally:
            await counters.close()

    run(scenario())


def test_adjust_soon_settles_several_buckets_at_once(make_counters: type) -> None:
    async def scenario() -> None:
        counters: Counters = make_counters()
        try:
            await counters.take([Bucket("x", 10, 1, 100, 60_000), Bucket("y", 10, 1, 100, 60_000)])
            counters.adjust_soon([("x", -4, 60_000), ("y", 5, 60_000)])
            taken = await counters.take(
                [Bucket("x", 0, 1, 100, 60_000), Bucket("y", 0, 1, 100, 60_000)]
            )
            assert taken.values == (6, 15)
        finally:
            await counters.close()

    run(scenario())


def test_a_plans_buckets_take_the_amounts_they_name_all_or_nothing(make_counters: type) -> None:
    async def scenario() -> None:
        counters: Counters = make_counters()
        # (key, which amount, limit, ttl_ms): one request, then tokens against two limits
        plan = (("r", 0, 3, 60_000), ("t", 1, 100, 60_000), ("m", 1, 150, 60_000))
        try:
            prepared = counters.prepare(plan)  # once per plan, as the limiter does
            taken = await counters.take_prepared(prepared, (1, 60))
            assert taken.admitted and taken.values == (1, 60, 60)
            counters.adjust_soon([("t", -20, 60_000), ("m", -20, 60_000)])  # it used 40
            taken = await counters.take_prepared(prepared, (1, 70))
            assert taken.admitted and taken.values == (2, 110, 110)
            refused = await counters.take_prepared(prepared, (1, 5))  # "t" has no room left
            assert not refused.admitted and refused.failed == 1 and refused.values == (110,)
            requests_only = counters.prepare(plan[:1])
            taken = await counters.take_prepared(requests_only, (1,))  # the refusal took nothing
            assert taken.values == (3,)
        finally:
            await counters.close()

    run(scenario())


def test_plans_naming_one_bucket_count_in_it_together(make_counters: type) -> None:
    async def scenario() -> None:
        counters: Counters = make_counters()
        try:  # two keys of one account: their own request buckets, the account's tokens
            first = counters.prepare((("r1", 0, 0, 60_000), ("t", 1, 100, 60_000)))
            second = counters.prepare((("r2", 0, 0, 60_000), ("t", 1, 100, 60_000)))
            assert (await counters.take_prepared(first, (1, 60))).values == (1, 60)
            assert (await counters.take_prepared(second, (1, 50))).values == (1, 110)
            refused = await counters.take_prepared(first, (1, 1))
            assert not refused.admitted and refused.failed == 1 and refused.values == (110,)
        finally:
            await counters.close()

    run(scenario())


def test_prepared_settlements_give_each_bucket_its_delta(make_counters: type) -> None:
    async def scenario() -> None:
        counters: Counters = make_counters()
        try:
            # A call reserved 100 tokens and a cost of 50; two buckets settle: tokens, cost.
            prepared = counters.prepare((("t", 0, 0, 60_000), ("s", 1, 0, 60_000)))
            await counters.take_prepared(prepared, (100, 50))
            settling = counters.prepare_settlement((("t", 0, 60_000), ("s", 1, 60_000)))
            other = counters.prepare_settlement((("u", 0, 60_000),))  # a bucket not taken from
            counters.settle_prepared(settling, (-30, 0))  # used 70 tokens, cost as reserved
            counters.settle_prepared(settling, (-10, 5))  # the same plan's next call
            counters.settle_prepared(other, (7,))
            assert (await counters.take_prepared(prepared, (0, 0))).values == (60, 55)
            assert (await counters.take([Bucket("u", 0, 0, 0, 60_000)])).values == (7,)
        finally:
            await counters.close()

    run(scenario())


def test_a_plan_taken_from_again_and_again_counts_every_call_and_settlement(
    make_counters: type,
) -> None:
    async def scenario() -> None:
        counters: Counters = make_counters()
        try:
            # The limiter's rhythm: each call of a plan takes, then settles what it reserved.
            prepared = counters.prepare((("r", 0, 0, 60_000), ("t", 1, 0, 60_000)))
            settling = counters.prepare_settlement((("t", 1, 60_000),))
            seen = []
            for _ in range(3):
                seen.append((await counters.take_prepared(prepared, (1, 50))).values)
                counters.settle_prepared(settling, (0, -20))  # each used 30 of its 50
            assert seen == [(1, 50), (2, 80), (3, 110)]
            # The same plan with a third amount it does not take from, then with none carried
            taken = await counters.take_prepared(prepared, (1, 50, 999))
            assert taken.values == (4, 140)
            assert (await counters.take_prepared(prepared, (1, 0))).values == (5, 140)
        finally:
            await counters.close()

    run(scenario())
