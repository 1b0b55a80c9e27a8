"""The counter interface limit decisions are made over, and its in-process implementation.

The one primitive is ``take``: for a list of buckets, check that every bucket has room for
what it requires and, only if all do, add each bucket's increment; atomically. ``adjust_soon``
settles buckets afterwards (a reservation that turned out larger or smaller), and ``seed``
gives a missing bucket a starting value (a month's usage read from the database).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol


class Bucket(NamedTuple):
    key: str
    increment: int
    required: int
    limit: int  # 0: unlimited
    ttl_ms: int  # from now to the bucket's natural end (its window's, its month's)


# What ``take`` accepts: a ``Bucket``, or the same fields as a plain tuple (the limiter builds
# several on every request, and a plain tuple costs a tenth of a NamedTuple to make).
BucketFields = tuple[str, int, int, int, int]
# A bucket of a limiter's plan: key, which of the call's amounts it takes, limit, ttl_ms.
PlannedBucket = tuple[str, int, int, int]


class Taken(NamedTuple):
    admitted: bool
    failed: int | None  # index of the first bucket without room
    values: tuple[int, ...]  # each bucket's value after the take (before, for the failed one)


class Counters(Protocol):
    async def take(self, buckets: Sequence[BucketFields]) -> Taken: ...

    def prepare(self, buckets: tuple[PlannedBucket, ...]) -> Any:
        """What taking from a limiter plan's buckets needs, worked out once per plan (a rate
        window) instead of on every call."""

    async def take_prepared(self, prepared: Any, amounts: Sequence[int]) -> Taken:
        """``take`` from the buckets ``prepare`` made ready: each ``(key, which, limit,
        ttl_ms)`` takes ``amounts[which]`` and requires room for one."""

    def adjust_soon(self, items: Sequence[tuple[str, int, int]]) -> None:
        """Settle ``(key, delta, ttl_ms)`` adjustments without waiting: applied now, or sent
        in the background (settling a finished call is on no caller's path). Needs a running
        event loop."""

    async def seed(self, key: str, value: int, ttl_ms: int) -> None: ...

    async def close(self) -> None: ...


class InProcessCounters:
    """Counters in this process's memory: exact for one process (the `make run` default)."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[int, float]] = {}

    def _get(self, key: str, now: float) -> tuple[int, float] | None:
        found = self._values.get(key)
        if found is not None and found[1] <= now:
            del self._values[key]
            return None
        return found

    async def take(self, buckets: Sequence[BucketFields]) -> Taken:
        """(Buckets are unpacked as the tuples they are: attribute access per field cost a
        third of the whole call.) Each bucket is taken from as it is checked; a refusal, the
        rare case, gives back what the buckets before it took."""
        now = time.monotonic()
        stored = self._values
        values: list[int] = []
        for key, increment, required, limit, ttl_ms in buckets:
            found = stored.get(key)
            if found is None or found[1] <= now:  # a missing or expired bucket starts afresh
                value, expires = 0, now + ttl_ms / 1000
            else:
                value, expires = found
            if 0 < limit < value + required:
                for (earlier, taken, *_), after in zip(buckets, values, strict=False):
                    stored[earlier] = (after - taken, stored[earlier][1])
                return Taken(False, len(values), (value,))
            stored[key] = (value + increment, expires)
            values.append(value + increment)
        if len(stored) > 100_000:
            self._prune(now)
        return Taken(True, None, tuple(values))

    def prepare(self, buckets: tuple[PlannedBucket, ...]) -> tuple[PlannedBucket, ...]:
        return buckets  # taken from as they are

    async def take_prepared(
        self, prepared: tuple[PlannedBucket, ...], amounts: Sequence[int]
    ) -> Taken:
        return self.take_planned(prepared, amounts)

    def take_planned(self, buckets: Sequence[PlannedBucket], amounts: Sequence[int]) -> Taken:
        """``take_prepared`` without the coroutine (nothing here waits), for the limiter: each
        bucket takes ``amounts[which]`` and requires room for one; no bucket tuples are built
        per call."""
        now = time.monotonic()
        stored = self._values
        values: list[int] = []
        for key, which, limit, ttl_ms in buckets:
            found = stored.get(key)
            if found is None or found[1] <= now:  # a missing or expired bucket starts afresh
                value, expires = 0, now + ttl_ms / 1000
            else:
                value, expires = found
            if 0 < limit <= value:
                for (earlier, taken, *_), after in zip(buckets, values, strict=False):
                    stored[earlier] = (after - amounts[taken], stored[earlier][1])
                return Taken(False, len(values), (value,))
            value += amounts[which]
            stored[key] = (value, expires)
            values.append(value)
        if len(stored) > 100_000:
            self._prune(now)
        return Taken(True, None, tuple(values))

    def take_one(self, key: str, limit: int, ttl_ms: int) -> tuple[bool, int, int]:
        """One request against one limited bucket (an unmetered call), the common case:
        ``(admitted, value, ms until the bucket resets)``; a refusal counts nothing."""
        now = time.monotonic()
        found = self._values.get(key)
        if found is None or found[1] <= now:
            value, expires = 0, now + ttl_ms / 1000
        else:
            value, expires = found
            if value >= limit:
                return False, value, int((expires - now) * 1000)
        self._values[key] = (value + 1, expires)
        if len(self._values) > 100_000:
            self._prune(now)
        return True, value + 1, int((expires - now) * 1000)

    def adjust_soon(self, items: Sequence[tuple[str, int, int]]) -> None:
        now = time.monotonic()
        for key, delta, ttl_ms in items:
            found = self._get(key, now)
            value, expires = found if found else (0, now + ttl_ms / 1000)
            self._values[key] = (value + delta, expires)

    async def seed(self, key: str, value: int, ttl_ms: int) -> None:
        now = time.monotonic()
        if self._get(key, now) is None:
            self._values[key] = (value, now + ttl_ms / 1000)

    async def close(self) -> None:
        return None

    def _prune(self, now: float) -> None:
        for key in [k for k, (_, expires) in self._values.items() if expires <= now]:
            del self._values[key]
