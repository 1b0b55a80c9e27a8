"""Counters in Redis, shared by every process and replica: one round trip per decision."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as redis

from serika.limits.counters import Bucket, Taken

# KEYS: the buckets; ARGV: increment, required, limit, ttl_ms for each bucket in turn.
_TAKE = """
local n = #KEYS
local values = {}
for i = 1, n do
  local v = tonumber(redis.call('GET', KEYS[i]) or '0')
  local required = tonumber(ARGV[(i - 1) * 4 + 2])
  local limit = tonumber(ARGV[(i - 1) * 4 + 3])
  if limit > 0 and v + required > limit then
    local ttl = redis.call('PTTL', KEYS[i])
    if ttl < 0 then ttl = tonumber(ARGV[(i - 1) * 4 + 4]) end
    return {0, i, v, ttl}
  end
end
local out = {1, 0}
for i = 1, n do
  local v = redis.call('INCRBY', KEYS[i], tonumber(ARGV[(i - 1) * 4 + 1]))
  local ttl = redis.call('PTTL', KEYS[i])
  if ttl < 0 then
    ttl = tonumber(ARGV[(i - 1) * 4 + 4])
    redis.call('PEXPIRE', KEYS[i], ttl)
  end
  out[#out + 1] = v
  out[#out + 1] = ttl
end
return out
"""

# KEYS: the buckets; ARGV: delta, ttl_ms for each bucket in turn.
_ADJUST = """
for i = 1, #KEYS do
  redis.call('INCRBY', KEYS[i], tonumber(ARGV[(i - 1) * 2 + 1]))
  if redis.call('PTTL', KEYS[i]) < 0 then
    redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[(i - 1) * 2 + 2]))
  end
end
return 1
"""


class RedisCounters:
    def __init__(self, url: str, prefix: str = "serika:limits:") -> None:
        self._redis: Any = redis.Redis.from_url(url)
        self._prefix = prefix
        self._take = self._redis.register_script(_TAKE)
        self._adjust = self._redis.register_script(_ADJUST)

    async def take(self, buckets: Sequence[Bucket]) -> Taken:
        keys = [self._prefix + b.key for b in buckets]
        args: list[int] = []
        for b in buckets:
            args += [b.increment, b.required, b.limit, b.ttl_ms]
        result = [int(x) for x in await self._take(keys=keys, args=args)]
        if result[0] == 0:
            return Taken(False, result[1] - 1, (result[2],), (result[3],))
        pairs = result[2:]
        return Taken(True, None, tuple(pairs[0::2]), tuple(pairs[1::2]))

    async def adjust(self, key: str, delta: int, ttl_ms: int) -> None:
        await self.adjust_many([(key, delta, ttl_ms)])

    async def adjust_many(self, items: Sequence[tuple[str, int, int]]) -> None:
        if not items:
            return
        args: list[int] = []
        for _, delta, ttl_ms in items:
            args += [delta, ttl_ms]
        await self._adjust(keys=[self._prefix + key for key, _, _ in items], args=args)

    async def seed(self, key: str, value: int, ttl_ms: int) -> None:
        await self._redis.set(self._prefix + key, value, px=ttl_ms, nx=True)

    async def close(self) -> None:
        await self._redis.aclose()
