"""What only the Redis counters do: batched settlements, and failing fast without Redis."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from serika.errors import SerikaError
from serika.limits.counters import Bucket
from serika.limits.redis_counters import CountersUnavailable, RedisCounters
from serika.limits.resp import RespClient
from tests.support.redis import redis_url
from tests.support.server import free_port

GUARD = 30  # seconds: a hung test fails instead of hanging the suite (not a timing assert)


def test_many_settlements_all_count_and_close_sends_the_last() -> None:
    prefix = f"test:{secrets.token_hex(4)}:"

    async def scenario() -> None:
        counters = RedisCounters(redis_url(), prefix=prefix, settle_delay=60)
        await counters.take([Bucket("a", 1000, 1, 0, 60_000), Bucket("b", 1000, 1, 0, 60_000)])
        for n in range(300):
            counters.adjust_soon([("a", -1, 60_000), ("b", 2, 60_000), ("c", n, 60_000)])
        await counters.close()  # long before settle_delay: close sends them

        fresh = RedisCounters(redis_url(), prefix=prefix)
        try:
            zero = [Bucket(k, 0, 0, 0, 60_000) for k in ("a", "b", "c")]
            assert (await fresh.take(zero)).values == (700, 1600, sum(range(300)))
        finally:
            await fresh.close()

    asyncio.run(asyncio.wait_for(scenario(), GUARD))


def test_a_take_without_redis_fails_with_an_api_error_instead_of_hanging() -> None:
    async def scenario() -> None:
        counters = RedisCounters(f"redis://127.0.0.1:{free_port()}/0", timeout=1)
        try:
            counters.adjust_soon([("a", 1, 60_000)])  # lost, logged: never raises
            with pytest.raises(CountersUnavailable) as refused:
                await counters.take([Bucket("a", 1, 1, 10, 60_000)])
            error: SerikaError = refused.value
            assert error.status == 503 and error.type == "api_error"
            assert error.headers["Retry-After"] == "1"
            with pytest.raises(CountersUnavailable):
                await counters.seed("m", 10, 60_000)  # a month's first metered request
        finally:
            await counters.close()

    asyncio.run(asyncio.wait_for(scenario(), GUARD))


def test_settlements_sent_alone_survive_a_script_flush() -> None:
    prefix = f"test:{secrets.token_hex(4)}:"

    async def scenario() -> None:
        counters = RedisCounters(redis_url(), prefix=prefix)
        await counters.take([Bucket("a", 10, 1, 0, 60_000)])
        flusher = RespClient(redis_url())
        await flusher.execute("SCRIPT", "FLUSH")
        await flusher.close()
        counters.adjust_soon([("a", -3, 60_000)])
        await counters.close()  # sent alone: NOSCRIPT, loaded, sent again

        fresh = RedisCounters(redis_url(), prefix=prefix)
        try:
            assert (await fresh.take([Bucket("a", 0, 0, 0, 60_000)])).values == (7,)
        finally:
            await fresh.close()

    asyncio.run(asyncio.wait_for(scenario(), GUARD))


def test_a_take_after_a_script_flush_loads_the_script_and_counts_once() -> None:
    prefix = f"test:{secrets.token_hex(4)}:"

    async def scenario() -> None:
        counters = RedisCounters(redis_url(), prefix=prefix)
        try:
            await counters.take([Bucket("a", 1, 1, 0, 60_000)])
            flusher = RespClient(redis_url())
            await flusher.execute("SCRIPT", "FLUSH")
            await flusher.close()
            assert (await counters.take([Bucket("a", 1, 1, 0, 60_000)])).values == (2,)
        finally:
            await counters.close()

    asyncio.run(asyncio.wait_for(scenario(), GUARD))


def test_buckets_expire_at_their_natural_end_and_a_refusal_leaves_nothing_behind() -> None:
    prefix = f"test:{secrets.token_hex(4)}:"

    async def scenario() -> None:
        counters = RedisCounters(redis_url(), prefix=prefix)
        inspect = RespClient(redis_url())
        try:
            assert (await counters.take([Bucket("w", 3, 1, 10, 30_000)])).admitted
            assert 0 < await inspect.execute("PTTL", prefix + "w") <= 30_000
            # A bucket whose limit is below what it requires refuses even when new; the refused
            # take neither leaves that bucket behind nor counts in the one before it.
            refused = await counters.take([Bucket("w", 3, 1, 10, 30_000), Bucket("z", 1, 5, 4, 9)])
            assert not refused.admitted and refused.failed == 1
            assert await inspect.execute("EXISTS", prefix + "z") == 0
            assert await inspect.execute("GET", prefix + "w") == b"3"
            # A settlement that finds its bucket gone (expired) starts it with an expiry too.
            counters.adjust_soon([("gone", -2, 20_000)])
            await counters.close()
            assert 0 < await inspect.execute("PTTL", prefix + "gone") <= 20_000
        finally:
            await counters.close()
            await inspect.close()

    asyncio.run(asyncio.wait_for(scenario(), GUARD))


def test_large_amounts_stay_exact() -> None:
    prefix = f"test:{secrets.token_hex(4)}:"

    async def scenario() -> None:
        counters = RedisCounters(redis_url(), prefix=prefix)
        try:
            big = 10**15 + 7  # the numbers travel as doubles: exact below 2^53
            taken = await counters.take([Bucket("big", big, 1, 2 * big, 60_000)])
            assert taken.values == (big,)
            refused = await counters.take([Bucket("big", 1, big + 1, 2 * big, 60_000)])
            assert not refused.admitted and refused.values == (big,)
            counters.adjust_soon([("big", -(10**15), 60_000)])
            assert (await counters.take([Bucket("big", 0, 0, 0, 60_000)])).values == (7,)
        finally:
            await counters.close()

    asyncio.run(asyncio.wait_for(scenario(), GUARD))
