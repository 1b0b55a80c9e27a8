"""Random, unguessable identifiers with a readable prefix (``key_…``, ``usr_…``)."""

from __future__ import annotations

import secrets

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def random_base62(length: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(length))


def looks_like_id(prefix: str, value: str) -> bool:
    """True when ``value`` could be an id made by ``new_id(prefix)``."""
    return (
        len(value) == len(prefix) + 21
        and value.startswith(prefix + "_")
        and all(ch in BASE62 for ch in value[len(prefix) + 1 :])
    )


def new_id(prefix: str) -> str:
    """``prefix_`` followed by 20 base62 characters (about 119 random bits)."""
    return f"{prefix}_{random_base62(20)}"
