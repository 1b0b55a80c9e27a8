"""The key format: length, alphabet, randomness, checksum, hint."""

from __future__ import annotations

import math
import re

from serika.keys.format import (
    CHECKSUM_LENGTH,
    KEY_PATTERN,
    RANDOM_LENGTH,
    generate_key,
    hint,
    is_well_formed,
)


def test_generated_keys_match_the_documented_regex() -> None:
    documented = re.compile(r"^sk-[0-9A-Za-z]{49}$")
    for _ in range(200):
        key = generate_key()
        assert documented.fullmatch(key)
        assert KEY_PATTERN.fullmatch(key)
        assert is_well_formed(key)


def test_random_part_carries_at_least_190_bits() -> None:
    assert RANDOM_LENGTH * math.log2(62) >= 190


def test_keys_do_not_repeat() -> None:
    keys = {generate_key() for _ in range(2000)}
    assert len(keys) == 2000


def test_any_single_character_typo_is_rejected() -> None:
    key = generate_key()
    body = key[3:]
    for position in range(len(body)):
        for replacement in "0aZ":
            if body[position] == replacement:
                continue
            typo = "sk-" + body[:position] + replacement + body[position + 1 :]
            assert not is_well_formed(typo), (position, replacement)


def test_swapped_neighbours_are_rejected() -> None:
    key = generate_key()
    body = list(key[3:])
    for i in range(RANDOM_LENGTH - 1):
        if body[i] == body[i + 1]:
            continue
        swapped = body.copy()
        swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
        assert not is_well_formed("sk-" + "".join(swapped))


def test_malformed_keys_are_rejected() -> None:
    key = generate_key()
    for bad in [
        "",
        "sk-",
        key[:-1],
        key + "a",
        key.replace("sk-", "sk_"),
        key.replace("sk-", "pk-"),
        "sk-" + "!" * 49,
        key[:10] + " " + key[11:],
        key.upper() if key != key.upper() else key.lower(),
    ]:
        assert not is_well_formed(bad), bad


def test_checksum_is_short_and_at_the_end() -> None:
    key = generate_key()
    assert len(key) == 3 + RANDOM_LENGTH + CHECKSUM_LENGTH


def test_hint_shows_only_the_last_four_characters() -> None:
    key = generate_key()
    shown = hint(key)
    assert shown == "sk-…" + key[-4:]
    assert key[3:-4] not in shown
