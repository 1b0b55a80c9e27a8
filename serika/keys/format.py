"""The API key format: ``sk-`` + 43 random base62 characters + a 6-character checksum.

43 base62 characters carry 43 * log2(62) = 256.0 bits of randomness. The checksum is the
CRC-32 of the random part, written as 6 base62 digits, so a typo or a made-up key is refused
without touching any store. The whole key matches ``^sk-[0-9A-Za-z]{49}$``.
"""

from __future__ import annotations

import re
import zlib

from serika.ids import BASE62, random_base62

PREFIX = "sk-"
RANDOM_LENGTH = 43
CHECKSUM_LENGTH = 6
KEY_LENGTH = len(PREFIX) + RANDOM_LENGTH + CHECKSUM_LENGTH
KEY_PATTERN = re.compile(r"^sk-[0-9A-Za-z]{49}$")
HINT_TAIL = 4


def _checksum(random_part: str) -> str:
    value = zlib.crc32(random_part.encode("ascii"))
    digits = []
    for _ in range(CHECKSUM_LENGTH):
        value, rem = divmod(value, 62)
        digits.append(BASE62[rem])
    return "".join(reversed(digits))


def generate_key() -> str:
    """A fresh secret key."""
    random_part = random_base62(RANDOM_LENGTH)
    return PREFIX + random_part + _checksum(random_part)


def is_well_formed(key: str) -> bool:
    """True when the key has the format and its checksum matches."""
    if KEY_PATTERN.fullmatch(key) is None:
        return False
    body = key[len(PREFIX) :]
    return _checksum(body[:RANDOM_LENGTH]) == body[RANDOM_LENGTH:]


def hint(key: str) -> str:
    """What listings show: ``sk-…`` and the last four characters."""
    return f"{PREFIX}…{key[-HINT_TAIL:]}"
