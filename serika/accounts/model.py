"""Accounts as the rest of the program sees them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Tier(StrEnum):
    FREE = "free"
    PREMIUM = "premium"


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    username: str
    tier: Tier
    created_at: datetime
    spend_limit_micro_usd: int | None = None


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser or script. ``token`` is only known right after login."""

    user: User
    csrf_token: str
    expires_at: datetime
    token: str = ""
