"""What an API key is, as the rest of the program sees it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from serika.keys.permissions import Permission


class KeyStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as its owner sees it: everything but the secret."""

    id: str
    user_id: str
    name: str
    hint: str
    permissions: frozenset[Permission]
    status: KeyStatus
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None
    total_requests: int
    total_tokens: int
    total_images: int

    @property
    def active(self) -> bool:
        return self.status is KeyStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key together with its secret: only ever the answer to create and regenerate."""

    key: ApiKey
    secret: str


@dataclass(frozen=True, slots=True)
class KeyCredential:
    """What verification needs to know about a presented key, and about its owner's plan;
    cached per process (tier and cap changes invalidate it like key changes do)."""

    key_id: str
    user_id: str
    key_hash: str
    permissions: frozenset[Permission]
    status: KeyStatus
    tier: str = "free"
    spend_limit_micro_usd: int | None = None  # the owner's monthly spending cap, if any
