"""Throttling failed logins, per account and per client address (sliding window)."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from serika.clock import Clock


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    max_per_account: int
    max_per_address: int
    window_seconds: float


class LoginThrottle:
    """In-process failure counts. ``retry_after`` says how long a caller must wait, or 0."""

    def __init__(self, policy: ThrottlePolicy, clock: Clock) -> None:
        self._policy = policy
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, account: str, address: str) -> int:
        now = self._clock.monotonic()
        waits = [
            self._wait(f"a:{account}", self._policy.max_per_account, now),
            self._wait(f"i:{address}", self._policy.max_per_address, now),
        ]
        return max(waits)

    def failed(self, account: str, address: str) -> None:
        now = self._clock.monotonic()
        for bucket in (f"a:{account}", f"i:{address}"):
            self._failures.setdefault(bucket, deque()).append(now)
        if len(self._failures) > 100_000:
            self._prune(now)

    def succeeded(self, account: str) -> None:
        self._failures.pop(f"a:{account}", None)

    def _wait(self, bucket: str, limit: int, now: float) -> int:
        times = self._failures.get(bucket)
        if not times:
            return 0
        horizon = now - self._policy.window_seconds
        while times and times[0] <= horizon:
            times.popleft()
        if len(times) < limit:
            return 0
        return max(1, math.ceil(times[-limit] + self._policy.window_seconds - now))

    def _prune(self, now: float) -> None:
        horizon = now - self._policy.window_seconds
        for bucket in [b for b, t in self._failures.items() if not t or t[-1] <= horizon]:
            del self._failures[bucket]
