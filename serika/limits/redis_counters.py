"""Counters in Redis, shared by every process and replica: one round trip per decision.

Each ``take`` is one ``EVALSHA`` of one script on a shared pipelined connection
(``serika.limits.resp``). Settlements are on no caller's path, so ``adjust_soon`` only adds
its deltas to a batch (summed per key) and returns. The next ``take`` carries the batch in
its own script call, applied before the take, so every later decision in this process counts
it. When no take comes within ``settle_delay`` (50 ms: how much later other processes may
see a settlement) the batch goes out alone; also before a ``seed``, and ``close`` sends what
is left. Settlements that fail are logged and lost (as a failed settle always was). A take
that cannot reach Redis raises ``CountersUnavailable`` (503) within the client's timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from serika.errors import SerikaError
from serika.limits.counters import Bucket, Taken
from serika.limits.resp import RespClient, RespConnectionError, RespError, Script, pack

log = logging.getLogger(__name__)

# KEYS: n buckets to take from, then buckets to settle. ARGV: n; then increment, required,
# limit and ttl_ms for each bucket taken from; then delta and ttl_ms for each bucket settled.
# Settlements are applied first, then the take: all or nothing over its n buckets.
_TAKE = """
local n = tonumber(ARGV[1])
for i = n + 1, #KEYS do
  local a = 4 * n + 2 * (i - n) - 1
  redis.call('INCRBY', KEYS[i], ARGV[a + 1])
  if redis.call('PTTL', KEYS[i]) < 0 then
    redis.call('PEXPIRE', KEYS[i], ARGV[a + 2])
  end
end
for i = 1, n do
  local a = 4 * (i - 1) + 1
  local v = tonumber(redis.call('GET', KEYS[i]) or '0')
  local limit = tonumber(ARGV[a + 3])
  if limit > 0 and v + tonumber(ARGV[a + 2]) > limit then
    local ttl = redis.call('PTTL', KEYS[i])
    if ttl < 0 then ttl = tonumber(ARGV[a + 4]) end
    return {0, i, v, ttl}
  end
end
local out = {1, 0}
for i = 1, n do
  local a = 4 * (i - 1) + 1
  local v = redis.call('INCRBY', KEYS[i], ARGV[a + 1])
  local ttl = redis.call('PTTL', KEYS[i])
  if ttl < 0 then
    ttl = tonumber(ARGV[a + 4])
    redis.call('PEXPIRE', KEYS[i], ttl)
  end
  out[#out + 1] = v
  out[#out + 1] = ttl
end
return out
"""


class CountersUnavailable(SerikaError):
    status = 503
    type = "api_error"
    default_code = "rate_limits_unavailable"


def _unavailable() -> CountersUnavailable:
    return CountersUnavailable(
        "Rate limits cannot be checked right now; try again shortly.",
        headers={"Retry-After": "1"},
    )


class RedisCounters:
    def __init__(
        self,
        url: str,
        prefix: str = "serika:limits:",
        *,
        timeout: float = 5.0,
        settle_delay: float = 0.05,
    ) -> None:
        self._client = RespClient(url, timeout=timeout)
        self._prefix = prefix
        self._script = Script(self._client, _TAKE)
        self._settle_delay = settle_delay
        self._batch: dict[str, list[int]] = {}  # prefixed key -> [delta, ttl_ms]
        self._timer: asyncio.TimerHandle | None = None
        self._settling: set[asyncio.Future[Any]] = set()

    async def take(self, buckets: Sequence[Bucket]) -> Taken:
        prefix = self._prefix
        keys = [prefix + b.key for b in buckets]
        args = [len(buckets)]
        for b in buckets:
            args += (b.increment, b.required, b.limit, b.ttl_ms)
        settled = self._take_batch(keys, args) if self._batch else 0
        try:
            result = await self._script(keys, args)
        except (RespConnectionError, RespError) as error:
            if settled:
                log.warning("%d rate-limit settlements lost: %s", settled, error)
            raise _unavailable() from error
        if result[0] == 0:
            return Taken(False, result[1] - 1, (result[2],), (result[3],))
        return Taken(True, None, tuple(result[2::2]), tuple(result[3::2]))

    def adjust_soon(self, items: Sequence[tuple[str, int, int]]) -> None:
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
        self._send_batch()
        command = pack("SET", self._prefix + key, value, "PX", ttl_ms, "NX")
        try:
            await self._client.request(command)
        except (RespConnectionError, RespError) as error:
            raise _unavailable() from error

    async def close(self) -> None:
        self._send_batch()
        while self._settling:
            # asyncio.wait yields to the loop, so the done-callbacks (which empty the set, or
            # send a retry) run; awaiting a done future would not, and this would spin
            await asyncio.wait(list(self._settling))
        await self._client.close()

    def _take_batch(self, keys: list[str], args: list[int]) -> int:
        """Move the batch into a take's ``keys`` and ``args``; how many settlements."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._batch = self._batch, {}
        for key, (delta, ttl_ms) in batch.items():
            if delta:
                keys.append(key)
                args += (delta, ttl_ms)
        return len(batch)

    def _send_batch(self) -> None:
        """Send the batch on its own: a take of no bucket."""
        if not self._batch:
            return
        keys: list[str] = []
        args = [0]
        count = self._take_batch(keys, args)
        if keys:
            self._send(self._script.command(keys, args), count)

    def _send(self, command: bytes, count: int, retried: bool = False) -> None:
        try:
            sent = self._client.request(command)
        except RespConnectionError as error:
            log.warning("%d rate-limit settlements lost: %s", count, error)
            return
        self._settling.add(sent)
        sent.add_done_callback(lambda done: self._settled(done, command, count, retried))

    def _settled(
        self, done: asyncio.Future[Any], command: bytes, count: int, retried: bool
    ) -> None:
        self._settling.discard(done)
        error = None if done.cancelled() else done.exception()
        if error is None:
            return
        if not retried and isinstance(error, RespError) and str(error).startswith("NOSCRIPT"):
            load = self._client.request(self._script.load)
            self._settling.add(load)
            load.add_done_callback(self._settling.discard)
            self._send(command, count, retried=True)  # after the load, on the same connection
            return
        log.warning("%d rate-limit settlements lost: %s", count, error)
