"""The counter interface limit decisions are made over, and its in-process implementation.

The one primitive is ``take``: for a list of buckets, check that every bucket has room for
what it requires and, only if all do, add each bucket's increment; atomically. ``adjust_soon``
settles buckets afterwards (a reservation that turned out larger or smaller), and ``seed``
gives a missing bucket a starting value (a month's usage read from the database).

A limiter keeps each caller's buckets for a whole rate window, so the counters work out once
per window what taking from them (``prepare``) and settling them (``prepare_settlement``)
needs, and a call brings only its amounts (``take_prepared``, ``settle_prepared``).
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
# A bucket a plan settles: key, which of the call's deltas it gets, ttl_ms.
SettledBucket = tuple[str, int, int]


class Taken(NamedTuple):
    """What a take found. (Hot paths make one with ``tuple.__new__(Taken, (...))``: the same
    tuple, without the Python-level ``__new__`` a NamedTuple's call goes through.)"""

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

    def prepare_settlement(self, buckets: tuple[SettledBucket, ...]) -> Any:
        """What settling a limiter plan's reserved buckets needs, worked out once per plan."""

    def settle_prepared(self, prepared: Any, deltas: Sequence[int]) -> None:
        """``adjust_soon`` of the buckets ``prepare_settlement`` made ready: each ``(key,
        which, ttl_ms)`` gets ``deltas[which]`` (a zero changes nothing)."""

    async def seed(self, key: str, value: int, ttl_ms: int) -> None: ...

    async def close(self) -> None: ...


def settled_buckets(items: Sequence[tuple[str, int, int]]) -> tuple[SettledBucket, ...]:
    """``adjust_soon``'s ``(key, delta, ttl_ms)`` items as buckets to settle: the nth takes
    the nth delta."""
    return tuple((key, n, ttl_ms) for n, (key, _, ttl_ms) in enumerate(items))


class _Cell:
    """One bucket in memory. A limiter's plan holds its buckets' cells for its window, so a
    call finds them without looking up keys; a cell outlives its plan (the ttls run to the
    end of the bucket's window or month, past the plan's), and a cell found expired is
    replaced by a fresh one."""

    __slots__ = ("expires", "value")

    def __init__(self, value: int, expires: float) -> None:
        self.value = value
        self.expires = expires


_PreparedCells = tuple[tuple[_Cell, int, int], ...]  # cell, which amount, limit
_SettledCells = tuple[tuple[_Cell, int], ...]  # cell, which delta


class InProcessCounters:
    """Counters in this process's memory: exact for one process (the `make run` default)."""

    def __init__(self) -> None:
        self._cells: dict[str, _Cell] = {}

    def _cell(self, key: str, ttl_ms: int, now: float) -> _Cell:
        """The bucket's cell; a missing or expired bucket starts afresh."""
        cell = self._cells.get(key)
        if cell is None or cell.expires <= now:
            if len(self._cells) > 100_000:
                self._prune(now)
            cell = self._cells[key] = _Cell(0, now + ttl_ms / 1000)
        return cell

    async def take(self, buckets: Sequence[BucketFields]) -> Taken:
        """Each bucket is taken from as it is checked; a refusal, the rare case, gives back
        what the buckets before it took."""
        now = time.monotonic()
        taken: list[tuple[_Cell, int]] = []
        for key, increment, required, limit, ttl_ms in buckets:
            cell = self._cell(key, ttl_ms, now)
            if 0 < limit < cell.value + required:
                for earlier, amount in taken:
                    earlier.value -= amount
                return Taken(False, len(taken), (cell.value,))
            cell.value += increment
            taken.append((cell, increment))
        return Taken(True, None, tuple(cell.value for cell, _ in taken))

    def prepare(self, buckets: tuple[PlannedBucket, ...]) -> _PreparedCells:
        now = time.monotonic()
        return tuple(
            (self._cell(key, ttl_ms, now), which, limit) for key, which, limit, ttl_ms in buckets
        )

    async def take_prepared(self, prepared: _PreparedCells, amounts: Sequence[int]) -> Taken:
        return self.take_planned(prepared, amounts)

    def take_planned(self, prepared: _PreparedCells, amounts: Sequence[int]) -> Taken:
        """``take_prepared`` without the coroutine (nothing here waits), for the limiter: each
        bucket takes ``amounts[which]`` and requires room for one."""
        values: list[int] = []
        for cell, which, limit in prepared:
            value = cell.value
            if 0 < limit <= value:
                for (earlier, taken, _), after in zip(prepared, values, strict=False):
                    earlier.value = after - amounts[taken]
                return Taken(False, len(values), (value,))
            cell.value = value = value + amounts[which]
            values.append(value)
        return tuple.__new__(Taken, (True, None, tuple(values)))  # Taken(...), without its __new__

    def take_one(self, key: str, limit: int, ttl_ms: int) -> tuple[bool, int, int]:
        """One request against one limited bucket (an unmetered call), the common case:
        ``(admitted, value, ms until the bucket resets)``; a refusal counts nothing."""
        now = time.monotonic()
        cell = self._cell(key, ttl_ms, now)
        if cell.value >= limit:
            return False, cell.value, int((cell.expires - now) * 1000)
        cell.value += 1
        return True, cell.value, int((cell.expires - now) * 1000)

    def adjust_soon(self, items: Sequence[tuple[str, int, int]]) -> None:
        deltas = [delta for _, delta, _ in items]
        self.settle_prepared(self.prepare_settlement(settled_buckets(items)), deltas)

    def prepare_settlement(self, buckets: tuple[SettledBucket, ...]) -> _SettledCells:
        now = time.monotonic()
        return tuple((self._cell(key, ttl_ms, now), which) for key, which, ttl_ms in buckets)

    def settle_prepared(self, prepared: _SettledCells, deltas: Sequence[int]) -> None:
        """(A cell that expired since its plan was made takes the delta too: its window is
        over, nothing reads it.)"""
        for cell, which in prepared:
            cell.value += deltas[which]

    async def seed(self, key: str, value: int, ttl_ms: int) -> None:
        now = time.monotonic()
        cell = self._cells.get(key)
        if cell is None or cell.expires <= now:
            self._cells[key] = _Cell(value, now + ttl_ms / 1000)

    async def close(self) -> None:
        return None

    def _prune(self, now: float) -> None:
        for key in [k for k, cell in self._cells.items() if cell.expires <= now]:
            del self._cells[key]
