"""A usage record as stored."""

from __future__ import annotations

from typing import NamedTuple


class UsageRow(NamedTuple):
    """One usage record as stored: the fields in the table's column order (a tuple, so the
    store can hand a batch of them to the database driver as they are)."""

    user_id: str
    key_id: str | None
    endpoint: str
    model: str | None
    status: int
    prompt_tokens: int
    completion_tokens: int
    images: int
    cost_micro_usd: int
    latency_ms: int
    estimated: bool
    created_at: float  # seconds since the epoch; the store writes it as a UTC timestamp
