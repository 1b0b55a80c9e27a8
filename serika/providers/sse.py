"""Reading Server-Sent Events from an upstream byte stream.

The stream arrives in pieces of any size (one socket read each); ``EventParser`` turns every
piece into the ``data`` of the events it completes, so a reader handles all the events of one
read together instead of awaiting line by line. Payloads stay bytes: ``orjson`` reads them as
they are.
"""

from __future__ import annotations

DONE = b"[DONE]"
MAX_EVENT_BYTES = 16 * 1024 * 1024


class EventTooLarge(ValueError):
    """An event grew past ``MAX_EVENT_BYTES`` without ending."""


class EventParser:
    """The ``data`` of each event, in order, up to (not including) ``[DONE]``.

    Lines may end in LF, CRLF or CR; comment lines and fields other than ``data`` are skipped;
    the ``data`` lines of one event are joined with LF, as the SSE specification says.
    """

    __slots__ = ("_pending", "done")

    def __init__(self) -> None:
        self._pending = b""  # the start of an event whose blank line has not arrived yet
        self.done = False  # ``[DONE]`` seen: whatever follows is ignored

    def feed(self, piece: bytes) -> list[bytes]:
        """The events completed by ``piece``."""
        if self.done:
            return []
        text = self._pending + piece if self._pending else piece
        if b"\r" in text:
            # A CR at the very end may be the first half of a CRLF: keep it for the next piece.
            held = b"\r" if text.endswith(b"\r") else b""
            text = text[: len(text) - len(held)].replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            blocks = text.split(b"\n\n")
            self._pending = blocks.pop() + held
        else:
            blocks = text.split(b"\n\n")
            self._pending = blocks.pop()
        if len(self._pending) > MAX_EVENT_BYTES:
            raise EventTooLarge(f"an event grew past {MAX_EVENT_BYTES} bytes")
        found: list[bytes] = []
        for block in blocks:
            # The common shape, one ``data: {...}`` line, without a line-by-line parse.
            if block.startswith(b"data: ") and b"\n" not in block:
                data: bytes | None = block[6:]
            else:
                data = _data_of(block)
            if data is None:
                continue
            if data == DONE:
                self.done = True
                self._pending = b""
                break
            found.append(data)
        return found

    def close(self) -> list[bytes]:
        """The event left when the stream ends without a blank line after it, if any."""
        if self.done or not self._pending:
            return []
        text = self._pending.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        self._pending = b""
        data = _data_of(text)
        if data is None or data == DONE:
            return []
        return [data]


def _data_of(block: bytes) -> bytes | None:
    """The joined ``data`` lines of one event's lines, or None when it has none."""
    lines: list[bytes] = []
    for line in block.split(b"\n"):
        if not line or line.startswith(b":"):
            continue
        field, _, value = line.partition(b":")
        if field == b"data":
            lines.append(value[1:] if value.startswith(b" ") else value)
    return b"\n".join(lines) if lines else None
