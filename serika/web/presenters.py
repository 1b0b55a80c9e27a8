"""How domain objects look in JSON answers."""

from __future__ import annotations

from typing import Any

from serika.accounts.model import User
from serika.keys.model import ApiKey
from serika.keys.permissions import ordered
from serika.web.responses import iso


def key_json(key: ApiKey, secret: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": key.id,
        "object": "api_key",
        "name": key.name,
        "hint": key.hint,
        "permissions": ordered(key.permissions),
        "status": key.status.value,
        "active": key.active,
        "created_at": iso(key.created_at),
        "last_used_at": iso(key.last_used_at),
        "total_requests": key.total_requests,
        "total_tokens": key.total_tokens,
        "total_images": key.total_images,
    }
    if secret is not None:
        body["key"] = secret
    return body


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "avatar": None,
        "tier": user.tier.value,
        "join_date": iso(user.created_at),
        "created_at": iso(user.created_at),
        "monthly_spending_limit": (
            user.spend_limit_micro_usd / 1_000_000
            if user.spend_limit_micro_usd is not None
            else None
        ),
    }
