"""The pipelined Redis client, against the real Redis server (``SERIKA_TEST_REDIS_URL``)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import pytest

from serika.limits.resp import RespClient, RespConnectionError, RespError, Script, pack
from tests.support.redis import redis_url
from tests.support.server import free_port

GUARD = 30  # seconds: a hung test fails instead of hanging the suite (not a timing assert)


def run(scenario: Callable[[RespClient], Awaitable[None]], url: str = "", **kw: float) -> None:
    async def main() -> None:
        client = RespClient(url or redis_url(), **kw)
        try:
            async with asyncio.timeout(GUARD):
                await scenario(client)
        finally:
            await client.close()

    asyncio.run(main())


def key() -> str:
    return f"test:resp:{secrets.token_hex(6)}"


def test_commands_and_their_replies() -> None:
    async def scenario(client: RespClient) -> None:
        k = key()
        assert await client.execute("SET", k, "héllo", "PX", 60_000) == b"OK"
        assert await client.execute("GET", k) == "héllo".encode()
        assert await client.execute("INCRBY", k + ":n", -7) == -7
        assert await client.execute("GET", k + ":missing") is None
        assert await client.request(pack("DEL", k, k + ":n")) == 2

    run(scenario)


def test_an_error_reply_raises_and_the_connection_goes_on() -> None:
    async def scenario(client: RespClient) -> None:
        k = key()
        await client.execute("SET", k, "text", "PX", 60_000)
        with pytest.raises(RespError, match="not an integer"):
            await client.execute("INCRBY", k, 1)
        assert await client.execute("ECHO", "still here") == b"still here"

    run(scenario)


def test_many_commands_in_flight_get_their_own_replies() -> None:
    async def scenario(client: RespClient) -> None:
        replies = await asyncio.gather(*(client.execute("ECHO", str(n)) for n in range(2000)))
        assert replies == [str(n).encode() for n in range(2000)]

    run(scenario)


def test_a_cancelled_caller_does_not_shift_the_replies() -> None:
    async def scenario(client: RespClient) -> None:
        await client.execute("PING")
        first = client.request(pack("ECHO", "first"))
        second = client.request(pack("ECHO", "second"))
        first.cancel()
        assert await second == b"second"
        assert await client.execute("ECHO", "third") == b"third"

    run(scenario)


def test_a_script_is_loaded_again_after_script_flush() -> None:
    async def scenario(client: RespClient) -> None:
        script = Script(client, "return redis.call('INCRBY', KEYS[1], ARGV[1])")
        k = key()
        assert await script([k], [5]) == 5
        await client.execute("SCRIPT", "FLUSH")
        assert await script([k], [2]) == 7  # NOSCRIPT, SCRIPT LOAD, EVALSHA again
        await client.execute("DEL", k)

    run(scenario)


def test_a_lost_connection_fails_what_is_in_flight_then_reconnects() -> None:
    async def scenario(client: RespClient) -> None:
        own_id = await client.execute("CLIENT", "ID")
        blocked = client.request(pack("BLPOP", key(), 0))  # never answered by itself
        other = RespClient(redis_url())
        try:
            assert await other.execute("CLIENT", "KILL", "ID", own_id) == 1
        finally:
            await other.close()
        with pytest.raises(RespConnectionError):
            await blocked
        assert await client.execute("CLIENT", "ID") != own_id  # a new connection
        assert await client.execute("PING") == b"PONG"

    run(scenario)


def test_a_server_that_stops_answering_fails_the_wait_instead_of_hanging() -> None:
    async def scenario(client: RespClient) -> None:
        with pytest.raises(RespConnectionError, match="no reply"):
            await client.execute("BLPOP", key(), 0)
        assert await client.execute("PING") == b"PONG"

    run(scenario, timeout=0.2)


def test_an_unreachable_server_fails_every_waiting_command() -> None:
    async def scenario(client: RespClient) -> None:
        results = await asyncio.gather(
            *(client.execute("PING") for _ in range(5)), return_exceptions=True
        )
        assert all(isinstance(r, RespConnectionError) for r in results)
        assert "cannot connect to Redis" in str(results[0])

    run(scenario, url=f"redis://127.0.0.1:{free_port()}/0")


def test_the_url_selects_the_database_and_sends_the_password() -> None:
    parts = urlsplit(redis_url())
    host = f"{parts.hostname}:{parts.port}"

    async def in_db_3(client: RespClient) -> None:
        k = key()
        await client.execute("SET", k, "three", "PX", 60_000)
        plain = RespClient(f"redis://{host}/0")
        try:
            assert await plain.execute("GET", k) is None  # not in database 0
        finally:
            await plain.close()
        assert await client.execute("GET", k) == b"three"

    run(in_db_3, url=f"redis://{host}/3")

    async def refused(client: RespClient) -> None:
        with pytest.raises(RespConnectionError, match="AUTH") as failed:
            await client.execute("PING")
        assert "not-the-password" not in str(failed.value)

    # the test server has no password: Redis refuses AUTH, and the client says so
    run(refused, url=f"redis://:not-the-password@{host}/0")


def test_a_closed_client_refuses_new_commands() -> None:
    async def scenario(client: RespClient) -> None:
        assert await client.execute("PING") == b"PONG"
        await client.close()
        with pytest.raises(RespConnectionError, match="closed"):
            await client.execute("PING")

    run(scenario)
