"""Verifying a presented API key: format, checksum, keyed hash, cache, store."""

from __future__ import annotations

from serika.errors import AuthenticationFailed
from serika.keys.cache import MISSING, CredentialCache
from serika.keys.format import KEY_LENGTH, is_well_formed
from serika.keys.hashing import SecretHasher
from serika.keys.model import KeyCredential, KeyStatus
from serika.keys.revocation import Revocations
from serika.keys.store import KeyStore

_INVALID = (
    "Incorrect API key provided. You can find your API keys in the Serika dashboard under API Keys."
)


class KeyVerifier:
    def __init__(
        self,
        hasher: SecretHasher,
        store: KeyStore,
        cache: CredentialCache,
        revocations: Revocations,
    ) -> None:
        self._hasher = hasher
        self._store = store
        self._cache = cache
        self._revocations = revocations

    def cached_entries(self) -> int:
        return len(self._cache)

    async def verify(self, presented: str) -> KeyCredential:
        """The active credential for ``presented``, or ``AuthenticationFailed``.

        The cache is asked first: only keys this process has seen stored answer from it, so a
        hit needs no format check. Everything else has its format and checksum checked before
        the store is asked (made-up and mistyped keys never reach the database).
        """
        if len(presented) != KEY_LENGTH:  # bounds the hashing work, before any other
            raise AuthenticationFailed(_INVALID, code="invalid_api_key")
        key_hash = self._hasher.digest(presented)
        generation = self._revocations.generation()
        self._cache.sync(generation)
        cached = self._cache.lookup(key_hash)
        if cached is MISSING:
            if not is_well_formed(presented):
                raise AuthenticationFailed(_INVALID, code="invalid_api_key")
            credential = await self._store.find_credential(key_hash)
            # Cache only what no change can have overtaken while we were reading.
            if self._revocations.generation() == generation:
                self._cache.store(key_hash, credential, generation)
        else:
            credential = cached  # type: ignore[assignment]
        if credential is None or not self._hasher.same(credential.key_hash, key_hash):
            raise AuthenticationFailed(_INVALID, code="invalid_api_key")
        if credential.status is not KeyStatus.ACTIVE:
            raise AuthenticationFailed(
                "This API key is disabled. Enable it in the dashboard or use another key.",
                code="api_key_disabled",
            )
        return credential
