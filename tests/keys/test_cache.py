"""The verification cache forgets everything when the revocation generation moves."""

from __future__ import annotations

from pathlib import Path

from serika.keys.cache import MISSING, CredentialCache
from serika.keys.model import KeyCredential, KeyStatus
from serika.keys.revocation import SharedFileRevocations


def _credential(n: int) -> KeyCredential:
    return KeyCredential(f"key_{n}", "usr_1", f"h{n}", frozenset(), KeyStatus.ACTIVE)


def test_hit_until_the_generation_moves() -> None:
    cache = CredentialCache(10)
    cache.sync(1)
    cache.store(b"h1", _credential(1), 1)
    assert cache.lookup(b"h1") == _credential(1)
    cache.sync(2)
    assert cache.lookup(b"h1") is MISSING


def test_entries_read_under_an_old_generation_are_not_kept() -> None:
    cache = CredentialCache(10)
    cache.sync(1)
    cache.sync(2)
    cache.store(b"h1", _credential(1), 1)
    assert cache.lookup(b"h1") is MISSING


def test_unknown_keys_are_remembered_as_none() -> None:
    cache = CredentialCache(10)
    cache.sync(0)
    cache.store(b"nope", None, 0)
    assert cache.lookup(b"nope") is None


def test_capacity_is_bounded() -> None:
    cache = CredentialCache(3)  # real keys; unknown ones have their own smaller bound
    cache.sync(0)
    for n in range(10):
        cache.store(f"h{n}".encode(), _credential(n), 0)
    assert len(cache) == 3
    assert cache.lookup(b"h9") == _credential(9)


def test_zero_capacity_disables_caching() -> None:
    cache = CredentialCache(0)
    cache.sync(0)
    cache.store(b"h1", _credential(1), 0)
    assert cache.lookup(b"h1") is MISSING


def test_shared_file_generation_is_seen_by_another_mapping(tmp_path: Path) -> None:
    path = tmp_path / "run" / "revocations"
    writer = SharedFileRevocations(path)
    reader = SharedFileRevocations(path)  # as another worker process would open it
    before = reader.generation()
    writer.bump()
    writer.bump()
    assert reader.generation() == before + 2
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_flood_of_unknown_keys_never_evicts_real_ones() -> None:
    cache = CredentialCache(20)
    cache.sync(0)
    cache.store(b"real", _credential(1), 0)
    for n in range(1000):
        cache.store(f"made-up-{n}".encode(), None, 0)
    assert cache.lookup(b"real") == _credential(1)
    assert cache.lookup(b"made-up-999") is None
    assert cache.lookup(b"made-up-0") is MISSING  # the unknown side is small and turns over
