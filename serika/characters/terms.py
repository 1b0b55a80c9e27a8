"""Search terms: the words of a character, lower-cased, for indexed prefix matching."""

from __future__ import annotations

import re
from collections.abc import Iterable

_WORD = re.compile(r"\w+", re.UNICODE)
TERM_MAX = 32
TERMS_PER_CHARACTER = 300


def words(text: str) -> list[str]:
    return [w[:TERM_MAX] for w in _WORD.findall(text.lower())]


def terms_for(parts: Iterable[str]) -> list[str]:
    """Distinct terms of the given texts, in first-seen order, bounded in number."""
    seen: dict[str, None] = {}
    for part in parts:
        for word in words(part):
            seen.setdefault(word, None)
            if len(seen) >= TERMS_PER_CHARACTER:
                return list(seen)
    return list(seen)


def prefix_upper_bound(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix``."""
    return prefix + "\U0010ffff"
