"""Header lines already encoded, added to an answer: through Serika's protocol as they are,
under any other server as header pairs.

Some headers an API answer carries are Serika's own, with names it knows and values it
formatted: the two every answer carries, and the six ``x-ratelimit-*`` of a limited call.
Serika's HTTP protocol takes such lines as they are (the ``serika.head_lines`` scope
extension) instead of looking at each pair in turn; another server (tests calling the app
directly, say) gets the same headers as pairs. Lines made only from constant text and numbers
(those two, and the rate limits') go through ``serika.safe_head_lines``, which the server adds
without looking for control characters in them: there can be none.
"""

from __future__ import annotations

from typing import Any

from serika.header_lines import RawHeaders, pairs_of
from serika.web.http_server import HEAD_EXTENSION, SAFE_HEAD_EXTENSION

_NONE: dict[str, Any] = {}


def add_head_lines(
    scope: Any, raw_headers: RawHeaders, lines: bytes, how_many: int, *, safe: bool = False
) -> None:
    """Add ``how_many`` header ``lines`` (``serika.header_lines``) to the answer to ``scope``
    whose header pairs are ``raw_headers``. ``safe``: the lines are made only from constant
    text and numbers formatted here (``serika.safe_head_lines``: added without the check)."""
    extensions = scope.get("extensions", _NONE)
    if safe:
        safe_lines = extensions.get(SAFE_HEAD_EXTENSION)
        if safe_lines is not None:
            safe_lines.append(lines)
            return
    else:
        added = extensions.get(HEAD_EXTENSION)
        if added is not None:
            added.append((lines, how_many))
            return
    raw_headers += pairs_of(lines)
