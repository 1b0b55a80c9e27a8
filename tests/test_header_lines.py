"""Header lines: pairs turned into lines and back, exactly."""

from __future__ import annotations

from serika.header_lines import encoded, pairs_of


def test_lines_and_pairs_turn_into_each_other() -> None:
    pairs = [(b"x-ratelimit-limit-requests", b"60"), (b"x-content-type-options", b"nosniff")]
    assert (
        encoded(pairs) == b"x-ratelimit-limit-requests: 60\r\nx-content-type-options: nosniff\r\n"
    )
    assert pairs_of(encoded(pairs)) == pairs
