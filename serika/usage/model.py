"""A usage ticket: one request's metering (and its limit reservation), opened when it is
permitted, closed when it ends."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from serika.limits.limiter import Admission, Caller
from serika.usage.record import UsageRow


@dataclass(slots=True)
class UsageTicket:
    user_id: str
    key_id: str | None
    endpoint: str
    created_at: datetime
    started: float
    model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    images: int = 0
    estimated: bool = False
    cost_micro_usd: int = 0
    status: int = 200
    deferred: bool = False  # a stream closes its own ticket when it ends
    closed: bool = field(default=False)
    tier: str = "free"
    spend_limit_micro_usd: int | None = None
    admission: Admission | None = None  # what the limiter reserved for this request

    def caller(self) -> Caller:
        return Caller(self.user_id, self.key_id, self.tier, self.spend_limit_micro_usd)

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
            self.created_at,
        )

    def set_tokens(self, prompt: int, completion: int, *, estimated: bool = False) -> None:
        self.prompt_tokens = max(0, prompt)
        self.completion_tokens = max(0, completion)
        self.estimated = estimated
