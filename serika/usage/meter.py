"""Metering: tickets become usage records (batched) and key totals (through key activity)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from serika.clock import Clock
from serika.keys.activity import ActivityRecorder
from serika.limits.limiter import Limiter
from serika.usage.model import UsageTicket
from serika.usage.record import UnbilledCalls, UsageRow
from serika.usage.store import UsageStore

log = logging.getLogger(__name__)
STOP_ATTEMPTS = 5


class Meter:
    def __init__(
        self,
        store: UsageStore,
        activity: ActivityRecorder,
        clock: Clock,
        interval: float,
        limiter: Limiter,
    ) -> None:
        self._limiter = limiter
        self._store = store
        self._activity = activity
        self._clock = clock
        self._interval = interval
        self._pending: list[UsageRow] = []
        self._unbilled = UnbilledCalls()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None  # set by start()

    def open(
        self,
        user_id: str,
        key_id: str | None,
        endpoint: str,
        tier: str = "free",
        spend_limit_micro_usd: int | None = None,
    ) -> UsageTicket:
        return UsageTicket(
            user_id,
            key_id,
            endpoint,
            self._clock.time(),
            self._clock.monotonic(),
            tier,
            spend_limit_micro_usd,
        )

    def close_soon(self, ticket: UsageTicket) -> None:
        """Close the ticket on the event loop's next turn: after the answer in hand is written.

        A call's bookkeeping (its tokens and cost, the record, the limits' settlement, the
        key's totals) is none of its caller's business, so it need not hold up the answer:
        at one connection it was ~6 % of the time a chat completion spent in the server. It
        still comes before any request sent after the answer arrived is handled: the loop runs
        callbacks in the order they were scheduled, and such a request's are scheduled later.
        """
        loop = self._loop
        if loop is None:  # not started (no loop to defer to): at once
            self.close(ticket)
        else:
            loop.call_soon(self.close, ticket)

    def close(self, ticket: UsageTicket) -> None:
        """Record the ticket once; later calls do nothing."""
        if ticket.closed:
            return
        ticket.closed = True
        measure = ticket.measure
        if measure is not None:
            ticket.measure = None
            measure()
        latency_ms = int((self._clock.monotonic() - ticket.started) * 1000)
        if ticket.billed():
            self._pending.append(ticket.row(latency_ms))
        else:
            self._unbilled.add(
                ticket.user_id,
                ticket.key_id,
                ticket.endpoint,
                ticket.model,
                ticket.status,
                ticket.estimated,
                latency_ms,
                ticket.created_at,
            )
        tokens = ticket.prompt_tokens + ticket.completion_tokens
        if ticket.admission is not None:
            self._limiter.settle(ticket.admission, tokens, ticket.cost_micro_usd)
        if ticket.key_id is not None:  # the key's totals and last use, in the same pass
            self._activity.record(
                ticket.key_id, tokens=tokens, images=ticket.images, at=ticket.created_at
            )

    def pending(self) -> int:
        """Usage records waiting to be written."""
        return len(self._pending) + len(self._unbilled)

    async def flush_usage(self) -> int:
        """Write the pending usage records (reports call this to include the latest requests)."""
        async with self._lock:
            batch, self._pending = self._pending, []
            batch += self._unbilled.take()
            if batch:
                try:
                    await self._store.insert_many(batch)
                except Exception:
                    self._pending[:0] = batch
                    raise
            return len(batch)

    async def flush(self) -> int:
        """Write usage records and key activity."""
        written = await self.flush_usage()
        await self._activity.flush()
        return written

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="serika-meter")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # The last chance to write what is pending: a busy database (SQLite's write lock held
        # by another process) gets a few more tries before the error is raised.
        for attempt in range(STOP_ATTEMPTS):
            try:
                await self.flush()
                return
            except Exception:
                if attempt == STOP_ATTEMPTS - 1:
                    raise
                log.warning("could not write usage on shutdown; retrying", exc_info=True)
                await asyncio.sleep(0.2 * (attempt + 1))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception:
                log.warning("could not write usage; will retry", exc_info=True)
