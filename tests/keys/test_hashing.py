"""Keyed hashing of secrets."""

from __future__ import annotations

import hashlib

import pytest

from serika.keys.format import generate_key
from serika.keys.hashing import SecretHasher


def test_digest_is_keyed_and_deterministic() -> None:
    key = generate_key()
    one = SecretHasher(b"a" * 32)
    two = SecretHasher(b"b" * 32)
    assert one.digest(key) == one.digest(key)
    assert one.digest(key) != two.digest(key)
    assert len(one.digest(key)) == 64


def test_digest_is_not_a_plain_hash_of_the_key() -> None:
    key = generate_key()
    digest = SecretHasher(b"s" * 32).digest(key)
    assert digest != hashlib.sha256(key.encode()).hexdigest()
    assert key not in digest


def test_short_server_secrets_are_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        SecretHasher(b"short")


def test_same_compares_digests() -> None:
    hasher = SecretHasher(b"x" * 32)
    digest = hasher.digest("sk-anything")
    assert SecretHasher.same(digest, hasher.digest("sk-anything"))
    assert not SecretHasher.same(digest, hasher.digest("sk-other"))


def test_digest_is_hmac_sha256_of_the_secret() -> None:
    import hmac

    key = generate_key()
    expected = hmac.new(b"k" * 32, key.encode(), hashlib.sha256).hexdigest()
    hasher = SecretHasher(b"k" * 32)
    assert hasher.digest(key) == expected
    assert hasher.digest(key) == expected  # the keyed state is copied, never consumed
