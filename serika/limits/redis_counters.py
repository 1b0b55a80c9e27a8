"""Counters in Redis, shared by every process and replica: one round trip per decision.

Each ``take`` is one ``EVALSHA`` of one script on a shared pipelined connection
(``serika.limits.resp``). Settlements are on no caller's path, so ``adjust_soon`` only adds
its deltas to a batch (summed per key) and returns. The next ``take`` carries the batch in
its own script call, applied before the take, so every later decision in this process counts
it. A batch waits at most ``settle_delay`` (50 ms: how much later other processes may see a
settlement): a timer set when a batch starts sends what no take has carried by then (one
timer per 50 ms, not one per request); a ``seed`` sends the batch first, and ``close`` sends
what is left. Settlements that fail are logged and lost (as a failed settle always was). A take
that cannot reach Redis raises ``CountersUnavailable`` (503) within the client's timeout.

A limiter's plan keeps the same buckets for a whole rate window: ``prepare`` packs their
keys, limits and ttls once per plan, and a call packs only its amounts (and the settlements
it carries).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Sequence
from typing import Any, NamedTuple

from serika.errors import SerikaError
from serika.limits.counters import BucketFields, PlannedBucket, Taken
from serika.limits.resp import RespClient, RespConnectionError, RespError, Script, bulk, pack

log = logging.getLogger(__name__)

# KEYS: n buckets to take from, then buckets to settle. The numbers are packed as
# little-endian doubles (one struct.pack instead of a decimal string per number; exact for
# integers up to 2^53). ARGV[1], what changes from call to call: n; the increment of each
# bucket taken from; delta and ttl_ms for each bucket settled. ARGV[2], what a limiter's plan
# keeps for a whole window (packed once): required, limit and ttl_ms for each bucket taken
# from. Settlements are applied first, then the take: all or nothing over its n buckets. A
# bucket gets its expiry when an increment creates it (its value is then the increment); the
# ttl passed is always the time to the bucket's natural end (its window's or its month's), so
# setting it again when a value happens to equal the increment changes nothing.
_TAKE = """
local spec = {struct.unpack('<' .. string.rep('d', #ARGV[1] / 8), ARGV[1])}
local function int(x) return string.format('%d', x) end
local n = spec[1]
local s = n + 2
for i = n + 1, #KEYS do
  if redis.call('INCRBY', KEYS[i], int(spec[s])) == spec[s] then
    redis.call('PEXPIRE', KEYS[i], int(spec[s + 1]))
  end
  s = s + 2
end
if n == 0 then return {0} end
local fixed = {struct.unpack('<' .. string.rep('d', #ARGV[2] / 8), ARGV[2])}
local out = {0}
for i = 1, n do
  local increment = spec[i + 1]
  local v = redis.call('INCRBY', KEYS[i], int(increment))
  local limit = fixed[3 * i - 1]
  if limit > 0 and v - increment + fixed[3 * i - 2] > limit then
    for j = 1, i - 1 do redis.call('DECRBY', KEYS[j], int(spec[j + 1])) end
    if v == increment then redis.call('DEL', KEYS[i])
    else redis.call('DECRBY', KEYS[i], int(increment)) end
    return {i, v - increment}
  end
  if v == increment then redis.call('PEXPIRE', KEYS[i], int(fixed[3 * i])) end
  out[i + 1] = v
end
return out
"""


class _Prepared(NamedTuple):
    """Buckets to take from, packed for the script: their keys as bulk strings back to back,
    how many, and ARGV[2] (each one's required, limit and ttl_ms)."""

    keys: bytes
    how_many: int
    fixed: bytes


_NO_BUCKETS = _Prepared(b"", 0, bulk(b""))


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
        self._keys: dict[str, bytes] = {}  # bucket key -> its prefixed key, packed
        self._doubles: dict[int, struct.Struct] = {}  # how many numbers -> their packer
        self._batch: dict[str, list[int]] = {}  # bucket key -> [delta, ttl_ms]
        self._timer: asyncio.TimerHandle | None = None
        self._settling: set[asyncio.Future[Any]] = set()

    async def take(self, buckets: Sequence[BucketFields]) -> Taken:
        fixed = [n for _, _, required, limit, ttl_ms in buckets for n in (required, limit, ttl_ms)]
        prepared = self._prepared([bucket[0] for bucket in buckets], fixed)
        return await self._take(prepared, [bucket[1] for bucket in buckets])

    def prepare(self, buckets: tuple[PlannedBucket, ...]) -> tuple[_Prepared, tuple[int, ...]]:
        """A limiter plan's buckets packed for the script, and which of a call's amounts each
        takes (the limiter keeps this with its plan, for the whole window)."""
        fixed = [n for _, _, limit, ttl_ms in buckets for n in (1, limit, ttl_ms)]
        prepared = self._prepared([bucket[0] for bucket in buckets], fixed)
        return prepared, tuple(which for _, which, _, _ in buckets)

    async def take_prepared(
        self, prepared: tuple[_Prepared, tuple[int, ...]], amounts: Sequence[int]
    ) -> Taken:
        packed, which = prepared
        return await self._take(packed, [amounts[n] for n in which])

    def _prepared(self, keys: list[str], fixed: list[int]) -> _Prepared:
        packed = b"".join(self._keys.get(key) or self._packed_key(key) for key in keys)
        return _Prepared(packed, len(keys), bulk(self._pack(fixed)))

    async def _take(self, prepared: _Prepared, increments: list[int]) -> Taken:
        command, settled = self._command(prepared, increments)
        try:
            result = await self._script.run(command)
        except (RespConnectionError, RespError) as error:
            if settled:
                log.warning("%d rate-limit settlements lost: %s", settled, error)
            raise _unavailable() from error
        failed = result[0]
        if failed:
            return Taken(False, failed - 1, (result[1],))
        return Taken(True, None, tuple(result[1:]))

    def adjust_soon(self, items: Sequence[tuple[str, int, int]]) -> None:
        batch = self._batch
        for key, delta, ttl_ms in items:
            found = batch.get(key)
            if found is None:
                batch[key] = [delta, ttl_ms]
            else:
                found[0] += delta
        if batch and self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._settle_delay, self._on_timer)

    async def seed(self, key: str, value: int, ttl_ms: int) -> None:
        self._send_batch()
        command = pack("SET", self._prefix + key, value, "PX", ttl_ms, "NX")
        try:
            await self._client.request(command)
        except (RespConnectionError, RespError) as error:
            raise _unavailable() from error

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._send_batch()
        while self._settling:
            # asyncio.wait yields to the loop, so the done-callbacks (which empty the set, or
            # send a retry) run; awaiting a done future would not, and this would spin
            await asyncio.wait(list(self._settling))
        await self._client.close()

    def _command(self, prepared: _Prepared, increments: list[int]) -> tuple[bytes, int]:
        """The script call taking ``increments`` from the prepared buckets, carrying the batch
        of settlements; and how many settlements it carries."""
        numbers = [prepared.how_many, *increments]
        keys = prepared.keys
        count = prepared.how_many
        settled = 0
        if self._batch:  # the timer stays: cancelling and setting one per request cost more
            batch, self._batch = self._batch, {}
            settled = len(batch)
            parts = [keys]
            for key, (delta, ttl_ms) in batch.items():
                if delta:
                    parts.append(self._keys.get(key) or self._packed_key(key))
                    numbers += (delta, ttl_ms)
            keys = b"".join(parts)
            count += len(parts) - 1
        args = (bulk(self._pack(numbers)), prepared.fixed)
        return self._script.command_of(count, keys, args), settled

    def _pack(self, numbers: list[int]) -> bytes:
        packer = self._doubles.get(len(numbers))
        if packer is None:
            packer = struct.Struct(f"<{len(numbers)}d")
            if len(self._doubles) < 64:
                self._doubles[len(numbers)] = packer
        return packer.pack(*numbers)

    def _packed_key(self, key: str) -> bytes:
        if len(self._keys) >= 50_000:  # keys name their window: most are soon unused
            self._keys.clear()
        packed = self._keys[key] = bulk(self._prefix + key)
        return packed

    def _on_timer(self) -> None:
        self._timer = None
        self._send_batch()

    def _send_batch(self) -> None:
        """Send the batch on its own: a take of no bucket."""
        if self._batch:
            command, count = self._command(_NO_BUCKETS, [])
            self._send(command, count)

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
        if not retried and isinstance(error, RespError) and Script.missing(error):
            load = self._client.request(self._script.load)
            self._settling.add(load)
            load.add_done_callback(self._settling.discard)
            self._send(command, count, retried=True)  # after the load, on the same connection
            return
        log.warning("%d rate-limit settlements lost: %s", count, error)
