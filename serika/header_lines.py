"""Header lines: ``name: value`` and CR LF each, the form in which an HTTP head carries them.

Headers Serika formats itself (the ``x-ratelimit-*`` of a limited call, the two every API
answer carries) are kept as lines, ready to go into a head as they are
(``serika.web.head_lines``); these turn pairs into lines and back.
"""

from __future__ import annotations

from collections.abc import Sequence

RawHeaders = list[tuple[bytes, bytes]]


def encoded(pairs: Sequence[tuple[bytes, bytes]]) -> bytes:
    """Header pairs (lower-case names) as lines."""
    return b"".join(b"%s: %s\r\n" % (name, value) for name, value in pairs)


def pairs_of(lines: bytes) -> RawHeaders:
    """Lines back as header pairs."""
    found = []
    for line in lines.split(b"\r\n"):
        if line:
            name, _, value = line.partition(b": ")
            found.append((name, value))
    return found
