"""Counters in Redis, shared by every process and replica: one round trip per decision.

Each ``take`` is one ``EVALSHA`` of the take script on the shared pipelined connection
(``serika.limits.resp``). Settlements are not on any caller's path, so ``adjust_many`` only
adds its deltas to a batch (summed per key) and returns; the batch goes out as one
``EVALSHA`` after ``settle_delay`` seconds, or at once before a ``take`` or ``seed`` that
touches one of its keys, so every later decision in this process sees it; ``close`` sends
what is left. A batch that fails is logged: its deltas are lost (as a failed settle always
was). A take that cannot reach Redis raises ``CountersUnavailable`` (503) within the
client's timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from serika.errors import SerikaError
from serika.limits.counters import Bucket, Taken
from serika.limits.resp import RespClient, RespConnectionError, RespError, Script, pack

log = logging.getLogger(__name__)

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


class CountersUnavailable(SerikaError):
    status = 503
    type = "api_error"
    default_code = "rate_limits_unavailable"


class RedisCounters:
    def __init__(
        self,
        url: str,
        prefix: str = "serika:limits:",
        *,
        timeout: float = 5.0,
        settle_delay: float = 0.005,
    ) -> None:
        self._client = RespClient(url, timeout=timeout)
        self._prefix = prefix
        self._take = Script(self._client, _TAKE)
        self._adjust = Script(self._client, _ADJUST)
        self._settle_delay = settle_delay
        self._batch: dict[str, list[int]] = {}  # prefixed key -> [delta, ttl_ms]
        self._timer: asyncio.TimerHandle | None = None
        self._settling: set[asyncio.Task[None]] = set()

    async def take(self, buckets: Sequence[Bucket]) -> Taken:
        prefix = self._prefix
        keys = [prefix + b.key for b in buckets]
        args: list[int] = []
        for b in buckets:
            args += (b.increment, b.required, b.limit, b.ttl_ms)
        if self._batch and not self._batch.keys().isdisjoint(keys):
            self._send_batch()  # queued ahead of the take: it counts what was settled
        try:
            result = await self._take(keys, args)
        except (RespConnectionError, RespError) as error:
            raise CountersUnavailable(
                "Rate limits cannot be checked right now; try again shortly.",
                headers={"Retry-After": "1"},
            ) from error
        if result[0] == 0:
            return Taken(False, result[1] - 1, (result[2],), (result[3],))
        return Taken(True, None, tuple(result[2::2]), tuple(result[3::2]))

    async def adjust(self, key: str, delta: int, ttl_ms: int) -> None:
        await self.adjust_many([(key, delta, ttl_ms)])

    async def adjust_many(self, items: Sequence[tuple[str, int, int]]) -> None:
        batch = self._batch
        for key, delta, ttl_ms in items:
            found = batch.get(self._prefix + key)
            if found is None:
                batch[self._prefix + key] = [delta, ttl_ms]
            else:
                found[0] += delta
        if batch and self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._settle_delay, self._send_batch)

    async def seed(self, key: str, value: int, ttl_ms: int) -> None:
        if self._batch:
            self._send_batch()
        await self._client.request(pack("SET", self._prefix + key, value, "PX", ttl_ms, "NX"))

    async def close(self) -> None:
        if self._batch:
            self._send_batch()
        for task in list(self._settling):
            with contextlib.suppress(Exception):
                await task
        await self._client.close()

    def _send_batch(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._batch = self._batch, {}
        keys: list[str] = []
        args: list[int] = []
        for key, (delta, ttl_ms) in batch.items():
            if delta:
                keys.append(key)
                args += (delta, ttl_ms)
        if not keys:
            return
        command = self._adjust.command(keys, args)
        try:
            sent = self._client.request(command)
        except RespConnectionError as error:
            log.warning("%d rate-limit settlements lost: %s", len(keys), error)
            return
        task = asyncio.get_running_loop().create_task(self._settled(command, sent, len(keys)))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def _settled(self, command: bytes, sent: asyncio.Future[Any], count: int) -> None:
        try:
            await self._adjust.reply(command, sent)
        except (RespConnectionError, RespError) as error:
            log.warning("%d rate-limit settlements lost: %s", count, error)
