"""Key use (last used, request/token/image totals), written off the request path in batches.

The meter (``serika.usage.meter``) flushes it on its schedule and on shutdown.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from serika.clock import Clock
from serika.keys.store import KeyActivity, KeyStore


@dataclass(slots=True)
class _Pending:
    last_used_at: float  # seconds since the epoch (cheap to read per request)
    requests: int = 0
    tokens: int = 0
    images: int = 0


class ActivityRecorder:
    """Collects key use in memory until ``flush`` writes it."""

    def __init__(self, store: KeyStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._pending: dict[str, _Pending] = {}
        self._flush_lock = asyncio.Lock()

    def record(
        self,
        key_id: str,
        *,
        requests: int = 1,
        tokens: int = 0,
        images: int = 0,
        at: float | None = None,  # when the key was used (seconds since the epoch); default now
    ) -> None:
        now = self._clock.time() if at is None else at
        pending = self._pending.get(key_id)
        if pending is None:
            pending = self._pending[key_id] = _Pending(now)
        elif now > pending.last_used_at:
            pending.last_used_at = now
        pending.requests += requests
        pending.tokens += tokens
        pending.images += images

    def pending(self) -> int:
        return len(self._pending)

    async def flush(self) -> int:
        """Write everything pending; on failure keep it for the next try. Returns rows sent."""
        async with self._flush_lock:
            batch, self._pending = self._pending, {}
            if not batch:
                return 0
            try:
                await self._store.apply_activity(
                    KeyActivity(
                        kid,
                        datetime.fromtimestamp(p.last_used_at, UTC),
                        p.requests,
                        p.tokens,
                        p.images,
                    )
                    for kid, p in batch.items()
                )
            except Exception:
                self._merge_back(batch)
                raise
            return len(batch)

    def _merge_back(self, batch: dict[str, _Pending]) -> None:
        for key_id, old in batch.items():
            new = self._pending.get(key_id)
            if new is None:
                self._pending[key_id] = old
                continue
            new.last_used_at = max(new.last_used_at, old.last_used_at)
            new.requests += old.requests
            new.tokens += old.tokens
            new.images += old.images
