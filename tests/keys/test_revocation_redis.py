"""Revocation across replicas through Redis pub/sub (real Redis, two separate data dirs)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from starlette.testclient import TestClient

from serika.app import create_app
from serika.keys.revocation import RedisRevocations, SharedFileRevocations
from tests.conftest import fast_settings
from tests.support.api import auth, bearer, error_of, new_account
from tests.support.redis import redis_url

SECRET = "a-shared-server-secret-of-enough-length-0123456789"


async def _wait_for(condition: object, timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.005)
    return False


def test_a_change_on_one_replica_moves_the_generation_on_another(tmp_path: Path) -> None:
    async def scenario() -> None:
        one = RedisRevocations(SharedFileRevocations(tmp_path / "a" / "rev"), redis_url())
        two = RedisRevocations(SharedFileRevocations(tmp_path / "b" / "rev"), redis_url())
        await one.start()
        await two.start()
        try:
            before_one, before_two = one.generation(), two.generation()
            await one.publish()
            assert one.generation() == before_one + 1  # local effect is immediate
            assert await _wait_for(lambda: two.generation() != before_two)
            settled = two.generation()
            await asyncio.sleep(0.1)
            assert one.generation() == before_one + 1  # its own message is not counted again
            assert two.generation() == settled
        finally:
            await one.stop()
            await two.stop()

    asyncio.run(scenario())


def test_regenerate_on_one_replica_is_refused_on_the_other(
    tmp_path: Path, database_url: str
) -> None:
    common = {"redis_url": redis_url(), "secret_key": SECRET}
    a = fast_settings(tmp_path / "replica-a", database_url, **common)
    b = fast_settings(tmp_path / "replica-b", database_url, **common)
    with TestClient(create_app(a)) as first, TestClient(create_app(b)) as second:
        account = new_account(first)
        key = first.post(
            "/api/openai/v1/keys", json={"name": "shared"}, headers=auth(account)
        ).json()
        for replica in (first, second):  # both replicas now have the key cached
            assert replica.get("/v1/models", headers=bearer(key["key"])).status_code == 200
        regenerated = first.post(
            f"/api/openai/v1/keys/{key['id']}/regenerate", headers=auth(account)
        ).json()
        assert first.get("/v1/models", headers=bearer(key["key"])).status_code == 401
        deadline = time.monotonic() + 2
        while second.get("/v1/models", headers=bearer(key["key"])).status_code != 401:
            assert time.monotonic() < deadline, "replica b kept accepting the old key"
        r = second.get("/v1/models", headers=bearer(key["key"]))
        assert error_of(r)["code"] == "invalid_api_key"
        assert second.get("/v1/models", headers=bearer(regenerated["key"])).status_code == 200
