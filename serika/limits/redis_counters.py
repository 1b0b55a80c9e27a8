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
from collections.abc import Callable, Coroutine, Sequence
from itertools import chain
from operator import add
from typing import Any

from serika.errors import SerikaError
from serika.limits.counters import (
    BucketFields,
    PlannedBucket,
    SettledBucket,
    Taken,
    settled_buckets,
)
from serika.limits.resp import RespClient, RespConnectionError, RespError, Script, bulk, pack

log = logging.getLogger(__name__)

# KEYS: n buckets to take from, then the buckets settled. All numbers are packed as
# little-endian doubles (one struct.pack instead of a decimal string per number; exact for
# integers up to 2^53).
# ARGV[1], what changes from call to call: n; g, how many settlements; a, how many amounts;
#   for each settlement, how many deltas it brings; the call's a amounts; then each
#   settlement's deltas. (The counts come first: a command of one shape packs them once.)
# ARGV[2], what a limiter's plan keeps for a whole window (packed once): for each bucket
#   taken from, which amount it takes (1-based), the room it requires, its limit, its ttl_ms.
# ARGV[3], each settlement's shape (packed once per plan): c, its buckets; then for each
#   bucket, which delta it gets (1-based; a zero does nothing) and its ttl_ms.
# Settlements are applied first, then the take: all or nothing over its n buckets. A bucket
# gets its expiry when an increment creates it (its value is then the increment); the ttl
# passed is always the time to the bucket's natural end (its window's or its month's), so
# setting it again when a value happens to equal the increment changes nothing.
_TAKE = """
local function numbers(packed)
  return {struct.unpack('<' .. string.rep('d', #packed / 8), packed)}
end
local function int(x) return string.format('%d', x) end
local spec = numbers(ARGV[1])
local n, groups, a = spec[1], spec[2], spec[3]
local amounts = 3 + groups
if groups > 0 then
  local shapes = numbers(ARGV[3])
  local key, s, at = n + 1, 1, amounts + a
  for g = 1, groups do
    local c = shapes[s]
    s = s + 1
    for b = 1, c do
      local delta = spec[at + shapes[s]]
      if delta ~= 0 and redis.call('INCRBY', KEYS[key], int(delta)) == delta then
        redis.call('PEXPIRE', KEYS[key], int(shapes[s + 1]))
      end
      key = key + 1
      s = s + 2
    end
    at = at + spec[3 + g]
  end
end
if n == 0 then return {0} end
local fixed = numbers(ARGV[2])
local out = {0}
for i = 1, n do
  local f = 4 * i - 3
  local increment = spec[amounts + fixed[f]]
  local v = redis.call('INCRBY', KEYS[i], int(increment))
  local limit = fixed[f + 2]
  if limit > 0 and v - increment + fixed[f + 1] > limit then
    for j = 1, i - 1 do redis.call('DECRBY', KEYS[j], int(spec[amounts + fixed[4 * j - 3]])) end
    if v == increment then redis.call('DEL', KEYS[i])
    else redis.call('DECRBY', KEYS[i], int(increment)) end
    return {i, v - increment}
  end
  if v == increment then redis.call('PEXPIRE', KEYS[i], int(fixed[f + 3])) end
  out[i + 1] = v
end
return out
"""


# A script call of one shape, ready but for the numbers that change from call to call: the
# command is head + pack(*amounts, *deltas) + tail; the last item is how many amounts it takes.
_Frame = tuple[bytes, Callable[..., bytes], bytes, int]
_FRAMES_MOST = 8  # frames a plan keeps (one per settlement its takes have carried, and none)


class _Prepared:
    """Buckets to take from, packed for the script: their keys as bulk strings back to back,
    how many, and ARGV[2] (each one's amount, required, limit and ttl_ms). ``frames`` keeps
    the plan's calls by the settlement they carry (``None``: none)."""

    __slots__ = ("fixed", "frames", "how_many", "keys")

    def __init__(self, keys: bytes, how_many: int, fixed: bytes) -> None:
        self.keys = keys
        self.how_many = how_many
        self.fixed = fixed
        self.frames: dict[_Settlement | None, _Frame] = {}


class _Settlement:
    """Buckets a limiter plan settles, packed for the script: their keys back to back, how
    many, and the settlement's shape (ARGV[3]'s part). Batched settlements are summed per
    plan (the batch is keyed by this object's identity)."""

    __slots__ = ("how_many", "keys", "shape")

    def __init__(self, keys: bytes, how_many: int, shape: bytes) -> None:
        self.keys = keys
        self.how_many = how_many
        self.shape = shape


_BATCH_MOST = 256  # settlements of different plans a batch holds before it is sent at once


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
        self._doubles: dict[int, Callable[..., bytes]] = {}  # how many numbers -> their packer
        self._batch: dict[_Settlement, list[int]] = {}  # settlements to send -> their deltas
        self._timer: asyncio.TimerHandle | None = None
        self._settling: set[asyncio.Future[Any]] = set()
        self._no_buckets = _Prepared(b"", 0, bulk(b""))  # settlements sent on their own

    async def take(self, buckets: Sequence[BucketFields]) -> Taken:
        fixed = [
            n
            for which, (_, _, required, limit, ttl_ms) in enumerate(buckets, 1)
            for n in (which, required, limit, ttl_ms)
        ]
        prepared = self._prepared([bucket[0] for bucket in buckets], fixed)
        return await self._take(prepared, [bucket[1] for bucket in buckets])

    def prepare(self, buckets: tuple[PlannedBucket, ...]) -> _Prepared:
        """A limiter plan's buckets packed for the script (the limiter keeps this with its
        plan, for the whole window)."""
        fixed = [n for _, which, limit, ttl_ms in buckets for n in (which + 1, 1, limit, ttl_ms)]
        return self._prepared([bucket[0] for bucket in buckets], fixed)

    def take_prepared(
        self, prepared: _Prepared, amounts: Sequence[int]
    ) -> Coroutine[Any, Any, Taken]:
        # a plain function returning the coroutine: one frame fewer to suspend and resume
        return self._take(prepared, amounts)

    def _prepared(self, keys: list[str], fixed: list[int]) -> _Prepared:
        packed = b"".join(self._keys.get(key) or self._packed_key(key) for key in keys)
        return _Prepared(packed, len(keys), bulk(self._packer(len(fixed))(*fixed)))

    async def _take(self, prepared: _Prepared, amounts: Sequence[int]) -> Taken:
        command, settled = self._command(prepared, amounts)
        try:
            try:
                result = await self._client.request(command)
            except RespError as error:  # the script may be gone (SCRIPT FLUSH): load, again
                result = await self._script.again(command, error)
        except (RespConnectionError, RespError) as error:
            if settled:
                log.warning("%d rate-limit settlements lost: %s", settled, error)
            raise _unavailable() from error
        failed = result[0]
        if failed:
            return Taken(False, failed - 1, (result[1],))
        return tuple.__new__(Taken, (True, None, tuple(result[1:])))

    def adjust_soon(self, items: Sequence[tuple[str, int, int]]) -> None:
        deltas = [delta for _, delta, _ in items]
        self.settle_prepared(self.prepare_settlement(settled_buckets(items)), deltas)

    def prepare_settlement(self, buckets: tuple[SettledBucket, ...]) -> _Settlement:
        keys = b"".join(self._keys.get(key) or self._packed_key(key) for key, _, _ in buckets)
        shape = [len(buckets)]
        for _, which, ttl_ms in buckets:
            shape += (which + 1, ttl_ms)
        return _Settlement(keys, len(buckets), self._packer(len(shape))(*shape))

    def settle_prepared(self, prepared: _Settlement, deltas: Sequence[int]) -> None:
        """Add to the batch the next take (or the timer) sends."""
        batch = self._batch
        found = batch.get(prepared)
        if found is None:
            batch[prepared] = list(deltas)
            if self._timer is None:
                loop = asyncio.get_running_loop()
                self._timer = loop.call_later(self._settle_delay, self._on_timer)
            elif len(batch) >= _BATCH_MOST:
                self._send_batch()
        else:
            batch[prepared] = list(map(add, found, deltas))

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

    def _command(self, prepared: _Prepared, amounts: Sequence[int]) -> tuple[bytes, int]:
        """The script call taking ``amounts`` from the prepared buckets, carrying the batch
        of settlements; and how many settlements it carries. A call carrying none or one (the
        common cases) is filled into a frame the plan keeps for that settlement."""
        batch = self._batch
        settlement: _Settlement | None = None
        deltas: Sequence[int] = ()
        if batch:
            self._batch = {}  # the timer stays: cancelling and setting one per request cost more
            if len(batch) > 1:  # several plans' settlements: a frame for this call alone
                carrying = [(settled, len(numbers)) for settled, numbers in batch.items()]
                head, pack, tail, _ = self._frame(prepared, carrying, len(amounts))
                filled = pack(*amounts, *chain.from_iterable(batch.values()))
                return head + filled + tail, len(batch)
            ((settlement, deltas),) = batch.items()
        frames = prepared.frames
        frame = frames.get(settlement)
        if frame is None or frame[3] != len(amounts):
            carried = [] if settlement is None else [(settlement, len(deltas))]
            frame = self._frame(prepared, carried, len(amounts))
            if settlement in frames or len(frames) < _FRAMES_MOST:
                frames[settlement] = frame
        head, pack, tail, _ = frame
        return head + pack(*amounts, *deltas) + tail, len(batch)

    def _frame(
        self, prepared: _Prepared, carried: Sequence[tuple[_Settlement, int]], amounts: int
    ) -> _Frame:
        """The script call taking ``amounts`` amounts from ``prepared``'s buckets and carrying
        the ``(settlement, how many deltas)`` of ``carried``, but for those numbers."""
        keys = prepared.keys + b"".join(settlement.keys for settlement, _ in carried)
        key_count = prepared.how_many + sum(settlement.how_many for settlement, _ in carried)
        counts = [prepared.how_many, len(carried), amounts, *(deltas for _, deltas in carried)]
        filled = amounts + sum(deltas for _, deltas in carried)
        head = b"%s%s$%d\r\n%s" % (
            self._script.head(key_count, 3),
            keys,
            8 * (len(counts) + filled),
            self._packer(len(counts))(*counts),
        )
        shapes = b"".join(settlement.shape for settlement, _ in carried)
        return head, self._packer(filled), b"\r\n" + prepared.fixed + bulk(shapes), amounts

    def _packer(self, count: int) -> Callable[..., bytes]:
        """Packs ``count`` numbers as little-endian doubles (a packer kept per count)."""
        packer = self._doubles.get(count)
        if packer is None:
            packer = struct.Struct(f"<{count}d").pack
            if len(self._doubles) < 64:
                self._doubles[count] = packer
        return packer

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
            command, count = self._command(self._no_buckets, ())
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
