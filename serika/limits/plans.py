"""Plans: what each tier may do, from the settings (``SERIKA_FREE_*``, ``SERIKA_PREMIUM_*``)."""

from __future__ import annotations

from dataclasses import dataclass

from serika.config import Settings


@dataclass(frozen=True, slots=True)
class Plan:
    requests_per_minute: int  # per key; 0 = unlimited
    tokens_per_minute: int  # per account; 0 = unlimited
    monthly_tokens: int  # per account, calendar month (UTC); 0 = unlimited
    completion_estimate: int  # tokens reserved for an answer when max_tokens is not given


def plans_from(settings: Settings) -> dict[str, Plan]:
    return {
        "free": Plan(
            settings.free_requests_per_minute,
            settings.free_tokens_per_minute,
            settings.free_monthly_tokens,
            settings.completion_estimate_tokens,
        ),
        "premium": Plan(
            settings.premium_requests_per_minute,
            settings.premium_tokens_per_minute,
            settings.premium_monthly_tokens,
            settings.completion_estimate_tokens,
        ),
    }
