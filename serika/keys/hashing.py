"""Keyed hashing of secrets (API keys, session tokens): HMAC-SHA256 with the server secret."""

from __future__ import annotations

import hashlib
import hmac


class SecretHasher:
    """Turns a secret into the only form that is stored: its HMAC-SHA256, hex encoded."""

    def __init__(self, server_secret: bytes) -> None:
        if len(server_secret) < 32:
            raise ValueError("the server secret must be at least 32 bytes")
        # Keyed once; each digest copies the keyed state (half the work of keying anew).
        self._keyed = hmac.new(server_secret, digestmod=hashlib.sha256)

    def digest(self, secret: str) -> str:
        mac = self._keyed.copy()
        mac.update(secret.encode("utf-8"))
        return mac.hexdigest()

    @staticmethod
    def same(a: str, b: str) -> bool:
        """Constant-time comparison of two digests."""
        return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
