"""A usage ticket: one request's metering (and its limit reservation), opened when it is
permitted, closed when it ends."""

from __future__ import annotations

from collections.abc import Callable

from serika.limits.limiter import Admission, Caller
from serika.usage.record import UsageRow


class UsageTicket:
    """Opened on every permitted call, so it is cheap to make: the constructor stores only what
    each call has; the rest are class-level defaults until the call sets its own."""

    model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    images: int = 0
    estimated: bool = False
    cost_micro_usd: int = 0
    status: int = 200
    deferred: bool = False  # a stream closes its own ticket when it ends
    closed: bool = False
    admission: Admission | None = None  # what the limiter reserved for this request
    # Works out what the call used (its tokens and cost) when the ticket closes, so that
    # need not be done before the answer goes (``Meter.close_soon``).
    measure: Callable[[], None] | None = None

    def __init__(
        self,
        user_id: str,
        key_id: str | None,
        endpoint: str,
        created_at: float,  # seconds since the epoch
        started: float,  # the clock's monotonic seconds
        tier: str = "free",
        spend_limit_micro_usd: int | None = None,
    ) -> None:
        self.user_id = user_id
        self.key_id = key_id
        self.endpoint = endpoint
        self.created_at = created_at
        self.started = started
        self.tier = tier
        self.spend_limit_micro_usd = spend_limit_micro_usd

    def caller(self) -> Caller:
        return Caller(self.user_id, self.key_id, self.tier, self.spend_limit_micro_usd)

    def billed(self) -> bool:
        """Whether the call used anything that is paid for (tokens, images, money)."""
        return bool(
            self.prompt_tokens or self.completion_tokens or self.images or self.cost_micro_usd
        )

    def row(self, latency_ms: int) -> UsageRow:
        return UsageRow(
            self.user_id,
            self.key_id,
            self.endpoint,
            self.model,
            self.status,
            self.prompt_tokens,
            self.completion_tokens,
            self.images,
            self.cost_micro_usd,
            latency_ms,
            self.estimated,
            1,
            self.created_at,
        )

    def set_tokens(self, prompt: int, completion: int, *, estimated: bool = False) -> None:
        self.prompt_tokens = max(0, prompt)
        self.completion_tokens = max(0, completion)
        self.estimated = estimated
