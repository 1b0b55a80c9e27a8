"""The counter interface limit decisions are made over, and its in-process implementation.

The one primitive is ``take``: for a list of buckets, check that every bucket has room for
what it requires and, only if all do, add each bucket's increment; atomically. ``adjust``
settles a bucket afterwards (a reservation that turned out larger or smaller), and ``seed``
gives a missing bucket a starting value (a month's usage read from the database).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Bucket:
    key: str
    increment: int
    required: int
    limit: int  # 0: unlimited
    ttl_ms: int


@dataclass(frozen=True, slots=True)
class Taken:
    admitted: bool
    failed: int | None  # index of the first bucket without room
    values: tuple[int, ...]  # each bucket's value after the take (before, for the failed one)
    ttls_ms: tuple[int, ...]  # milliseconds until each bucket resets


class Counters(Protocol):
    async def take(self, buckets: Sequence[Bucket]) -> Taken: ...

    async def adjust(self, key: str, delta: int, ttl_ms: int) -> None: ...

    async def adjust_many(self, items: Sequence[tuple[str, int, int]]) -> None:
        """Several ``(key, delta, ttl_ms)`` adjustments in one go (one round trip)."""

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

    async def take(self, buckets: Sequence[Bucket]) -> Taken:
        now = time.monotonic()
        current = []
        for bucket in buckets:
            found = self._get(bucket.key, now)
            current.append(found)
        for n, (bucket, found) in enumerate(zip(buckets, current, strict=True)):
            value = found[0] if found else 0
            if bucket.limit > 0 and value + bucket.required > bucket.limit:
                ttl = int((found[1] - now) * 1000) if found else bucket.ttl_ms
                return Taken(False, n, (value,), (ttl,))
        values, ttls = [], []
        for bucket, found in zip(buckets, current, strict=True):
            value, expires = found if found else (0, now + bucket.ttl_ms / 1000)
            value += bucket.increment
            self._values[bucket.key] = (value, expires)
            values.append(value)
            ttls.append(int((expires - now) * 1000))
        if len(self._values) > 100_000:
            self._prune(now)
        return Taken(True, None, tuple(values), tuple(ttls))

    async def adjust(self, key: str, delta: int, ttl_ms: int) -> None:
        self.adjust_now(key, delta, ttl_ms)

    async def adjust_many(self, items: Sequence[tuple[str, int, int]]) -> None:
        for key, delta, ttl_ms in items:
            self.adjust_now(key, delta, ttl_ms)

    def adjust_now(self, key: str, delta: int, ttl_ms: int) -> None:
        now = time.monotonic()
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
