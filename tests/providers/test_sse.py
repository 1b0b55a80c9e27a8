"""Splitting an upstream's Server-Sent Events, fed in pieces of any size."""

from __future__ import annotations

import pytest

from serika.providers.sse import MAX_EVENT_BYTES, EventParser, EventTooLarge

STREAM = (
    b": keep-alive comment\n\n"
    b'data: {"n": 1}\n\n'
    b"event: message\nid: 7\n"
    b'data: {"n":\ndata: 2}\n\n'
    b"\n\n"
    b"retry: 100\n\n"
    b'data:{"n": 3}\n\n'
    b"data: [DONE]\n\n"
    b'data: {"after": "done"}\n\n'
)
EVENTS = [b'{"n": 1}', b'{"n":\n2}', b'{"n": 3}']


def feed_all(parser: EventParser, pieces: list[bytes]) -> list[bytes]:
    found = []
    for piece in pieces:
        found.extend(parser.feed(piece))
    return found + parser.close()


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending_whole_and_byte_by_byte(ending: bytes) -> None:
    stream = STREAM.replace(b"\n", ending)
    assert feed_all(EventParser(), [stream]) == EVENTS
    one_byte_each = [stream[n : n + 1] for n in range(len(stream))]
    parser = EventParser()
    assert feed_all(parser, one_byte_each) == EVENTS
    assert parser.done


def test_events_come_out_with_the_piece_that_completes_them() -> None:
    parser = EventParser()
    assert parser.feed(b'data: {"a"') == []
    assert parser.feed(b": 1}\n") == []
    assert parser.feed(b'\ndata: {"b": 2}\n\ndata: {"c"') == [b'{"a": 1}', b'{"b": 2}']
    assert parser.feed(b": 3}\n\n") == [b'{"c": 3}']


def test_a_crlf_split_between_pieces_is_one_line_ending() -> None:
    parser = EventParser()
    assert parser.feed(b"data: x\r") == []
    assert parser.feed(b"\n\r") == []
    assert parser.feed(b"\ndata: y\r\n\r\n") == [b"x", b"y"]


def test_an_unfinished_last_event_is_kept_unless_it_is_done() -> None:
    parser = EventParser()
    assert parser.feed(b"data: a\n\ndata: b") == [b"a"]
    assert parser.close() == [b"b"]
    parser = EventParser()
    assert feed_all(parser, [b"data: [DONE]"]) == []


def test_nothing_after_done() -> None:
    parser = EventParser()
    assert parser.feed(b"data: 1\n\ndata: [DONE]\n\ndata: 2\n\n") == [b"1"]
    assert parser.feed(b"data: 3\n\n") == []
    assert parser.close() == []


def test_an_event_that_never_ends_is_refused() -> None:
    parser = EventParser()
    parser.feed(b"data: ")
    with pytest.raises(EventTooLarge):
        parser.feed(b"x" * MAX_EVENT_BYTES)
