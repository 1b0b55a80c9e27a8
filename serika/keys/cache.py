"""The per-process verification cache: key hash -> credential (or "no such key")."""

from __future__ import annotations

from serika.keys.model import KeyCredential

_MISSING = object()


class CredentialCache:
    """A bounded map, emptied whenever the revocation generation moves.

    Entries are only stored when the generation did not move while they were read from the
    database, so a change that lands during a read can never be hidden by a stale entry.
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._entries: dict[str, KeyCredential | None] = {}
        self._generation = -1

    def sync(self, generation: int) -> None:
        if generation != self._generation:
            self._entries.clear()
            self._generation = generation

    def lookup(self, key_hash: str) -> KeyCredential | object | None:
        """The cached credential, ``None`` for a known-unknown key, or ``MISSING``."""
        return self._entries.get(key_hash, _MISSING)

    def store(self, key_hash: str, credential: KeyCredential | None, generation: int) -> None:
        if self._capacity <= 0 or generation != self._generation:
            return
        if len(self._entries) >= self._capacity:
            self._entries.pop(next(iter(self._entries)))
        self._entries[key_hash] = credential

    def __len__(self) -> int:
        return len(self._entries)


MISSING = _MISSING
