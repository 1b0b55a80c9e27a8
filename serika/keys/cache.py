"""The per-process verification cache: presented key's cache token -> credential (or "no such
key"). The token is a keyed digest made by the verifier; the cache never sees a secret."""

from __future__ import annotations

from serika.keys.model import KeyCredential

_MISSING = object()


class CredentialCache:
    """Two bounded maps, emptied whenever the revocation generation moves: real keys, and
    (much smaller) keys known not to exist. They are apart so that a flood of made-up keys
    with valid checksums (the checksum is public) can only evict other made-up keys, never
    push real keys out onto the database path.

    Entries are only stored when the generation did not move while they were read from the
    database, so a change that lands during a read can never be hidden by a stale entry.
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._unknown_capacity = max(1, capacity // 10) if capacity > 0 else 0
        self._entries: dict[bytes, KeyCredential] = {}
        self._unknown: dict[bytes, None] = {}
        self._generation = -1

    def sync(self, generation: int) -> None:
        if generation != self._generation:
            self._entries.clear()
            self._unknown.clear()
            self._generation = generation

    def lookup(self, token: bytes) -> KeyCredential | object | None:
        """The cached credential, ``None`` for a known-unknown key, or ``MISSING``."""
        found = self._entries.get(token)
        if found is not None:
            return found
        return None if token in self._unknown else _MISSING

    def store(self, token: bytes, credential: KeyCredential | None, generation: int) -> None:
        if self._capacity <= 0 or generation != self._generation:
            return
        if credential is None:
            if len(self._unknown) >= self._unknown_capacity:
                self._unknown.pop(next(iter(self._unknown)))
            self._unknown[token] = None
            return
        if len(self._entries) >= self._capacity:
            self._entries.pop(next(iter(self._entries)))
        self._entries[token] = credential

    def __len__(self) -> int:
        return len(self._entries) + len(self._unknown)


MISSING = _MISSING
