"""Keyed hashing of secrets (API keys, session tokens): HMAC-SHA256 with the server secret."""

from __future__ import annotations

import hashlib
import hmac


class SecretHasher:
    """Turns a secret into the only form that is stored: its HMAC-SHA256, hex encoded."""

    def __init__(self, server_secret: bytes) -> None:
        if len(server_secret) < 32:
            raise ValueError("the server secret must be at least 32 bytes")
        self._secret = server_secret

    def digest(self, secret: str) -> str:
        return hmac.new(self._secret, secret.encode("utf-8"), hashlib.sha256).hexdigest()

    @staticmethod
    def same(a: str, b: str) -> bool:
        """Constant-time comparison of two digests."""
        return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
