"""HTTP/1.1 to the providers: pooled keep-alive connections on asyncio protocols.

A provider call is one request and one answer on a kept-alive connection, so this client is
small: the request goes out in one write, httptools (uvicorn's parser, already installed)
parses the answer, and the caller waits on one future per read. It replaced aiohttp's client,
which cost more per call than everything else on Serika's text path together (numbers in
``bench/GATEWAY.md``).

What it does: http and https (the system's certificate store), a total limit on open
connections shared by every origin, idle connections kept for reuse (``IDLE_SECONDS``), one
retry on a fresh connection when a reused one turns out to have been closed by the server
before answering anything, gzip and deflate answers decoded, chunked and sized bodies and
bodies that end with the connection, timeouts to connect, for every read (the first byte,
and each chunk after it) and in all, and a connection dropped (never reused) when its answer
is abandoned half read, so that the upstream sees the caller go away.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools

IDLE_SECONDS = 15.0
_PAUSE_BYTES = 1 << 20


class UpstreamConnectionError(ConnectionError):
    """The provider could not be reached, or the connection broke before the answer ended."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float
    read: float
    total: float


@dataclass(frozen=True, slots=True)
class _Origin:
    secure: bool
    host: str
    port: int

    @property
    def host_header(self) -> str:
        default = 443 if self.secure else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


class _Connection(asyncio.Protocol):
    """One connection and the answer being read on it (httptools calls the ``on_`` methods)."""

    def __init__(
        self, origin: _Origin, loop: asyncio.AbstractEventLoop, deadlines: _Deadlines
    ) -> None:
        self.origin = origin
        self._deadlines = deadlines
        self.read_by = 0.0  # the loop time its current wait times out at
        self.used = 0
        self.idle_since = 0.0
        self.closed = False
        self.counted = True  # in the client's count of open connections
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.raw_headers: list[tuple[bytes, bytes]] = []  # as received; decoded when asked
        self.encoding: bytes | None = None  # Content-Encoding (repeats joined by commas)
        self.head_done = False
        self.keep_alive = False
        self.complete = False
        self.received = False
        self.error: BaseException | None = None
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail(UpstreamConnectionError("The provider sent a malformed HTTP answer."))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.head_done and not self.complete and not self._framed() and self.error is None:
            self.complete = True  # an answer without a length ends with its connection
        elif not self.complete and self.error is None:
            self.error = UpstreamConnectionError("The provider closed the connection.")
        self._wake()

    # httptools
    def on_header(self, name: bytes, value: bytes) -> None:
        # Providers send a score of headers (ids, timings, their own rate limits) of which a
        # call reads two or three: they are kept as they came, and decoded only when asked.
        self.raw_headers.append((name, value))
        if len(name) == 16 and name.lower() == b"content-encoding":  # noted as it passes
            self.encoding = value if self.encoding is None else self.encoding + b", " + value

    def _framed(self) -> bool:
        """Whether the answer says where it ends (a length, or chunks)."""
        chunked = b"chunked" in (_header(self.raw_headers, b"transfer-encoding") or b"").lower()
        return chunked or _header(self.raw_headers, b"content-length") is not None

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        self.keep_alive = self._parser.should_keep_alive()  # llhttp forgets it at the end
        self.head_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _PAUSE_BYTES and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        self.complete = True
        self._wake()

    # the request on this connection
    def send(self, data: bytes) -> None:
        assert self._transport is not None
        self._reset()
        self.used += 1
        self._transport.write(data)

    def reusable(self) -> bool:
        return self.complete and not self.closed and self.keep_alive

    def close(self) -> None:
        if self._transport is not None and not self.closed:
            self.closed = True
            self._transport.close()

    def take(self) -> bytes:
        """Everything received of the body so far."""
        if not self._chunks:
            return b""
        data = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        return data

    async def wait(self, deadline: float, read: float) -> None:
        """Until something arrives, the answer ends or fails, or the read timeout passes."""
        if self.error is not None:
            raise self.error
        waiter = self._loop.create_future()
        self._waiter = waiter
        self.read_by = min(deadline, self._loop.time() + read)
        deadlines = self._deadlines
        deadlines.watch(self)
        try:
            await waiter
        finally:
            deadlines.forget(self)
            self._waiter = None
        if self.error is not None:
            raise self.error

    def _fail(self, error: BaseException) -> None:
        self.error = error
        self.close()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def time_out(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            _time_out(waiter)


class _Deadlines:
    """The read deadlines of one client's waiting connections, checked by one timer.

    A timer per wait (``call_at``, then ``cancel`` once the answer came) cost ~3-4 µs a
    request in uvloop; timeouts are seconds long, so one check every ``TICK`` seconds, running
    only while something waits, does: a wait times out at most ``TICK`` late.
    """

    TICK = 0.05

    def __init__(self) -> None:
        self._waiting: set[_Connection] = set()
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, connection: _Connection) -> None:
        self._waiting.add(connection)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.TICK, self._check)

    def forget(self, connection: _Connection) -> None:
        self._waiting.discard(connection)

    def _check(self) -> None:
        self._timer = None
        if not self._waiting:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        for connection in [c for c in self._waiting if c.read_by <= now]:
            connection.time_out()
        self._timer = loop.call_later(self.TICK, self._check)


def _header(raw: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The value of header ``name`` (lower case; repeats joined by commas), or None."""
    found = [v for n, v in raw if len(n) == len(name) and n.lower() == name]
    return b", ".join(found) if found else None


def _time_out(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class Response:
    """An answer: status and headers (lower-case names) at once, the body as it arrives."""

    def __init__(
        self, client: HttpClient, connection: _Connection, deadline: float, read: float
    ) -> None:
        self._client = client
        self._connection = connection
        self._deadline = deadline
        self._read = read
        self.status = connection.status
        self._raw = connection.raw_headers  # the connection's next answer gets a new list
        self._headers: dict[str, str] | None = None
        self._done = False
        encoding = (connection.encoding or b"identity").strip().lower()
        self._decoder = None if encoding == b"identity" else _decoder(encoding.decode("latin-1"))

    @property
    def headers(self) -> dict[str, str]:
        """The headers, names in lower case (a repeated header's values joined by commas)."""
        if self._headers is None:
            headers: dict[str, str] = {}
            for name, value in self._raw:
                key, text = name.decode("latin-1").lower(), value.decode("latin-1")
                headers[key] = f"{headers[key]}, {text}" if key in headers else text
            self._headers = headers
        return self._headers

    @property
    def content_length(self) -> int | None:
        value = _header(self._raw, b"content-length") or b""
        return int(value) if value.isdigit() else None

    async def read(self, limit: int | None = None) -> bytes:
        """The whole body (UpstreamConnectionError past ``limit`` bytes)."""
        parts: list[bytes] = []
        size = 0
        try:
            while (piece := await self._piece()) is not None:
                size += len(piece)
                if limit is not None and size > limit:
                    raise UpstreamConnectionError("The provider's answer is too large.")
                parts.append(piece)
        finally:
            self.close()
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def iter_any(self) -> AsyncIterator[bytes]:
        """The body in the pieces it arrives in; the connection goes back to the pool at its end."""
        try:
            while (piece := await self._piece()) is not None:
                yield piece
        finally:
            self.close()

    async def _piece(self) -> bytes | None:
        """The next piece of the body, decoded; None at its end."""
        connection = self._connection
        while True:
            data = connection.take()
            if data:
                if self._decoder is None:
                    return data
                piece = self._decode(data)
                if piece:
                    return piece
            elif connection.complete:
                if self._decoder is not None:
                    tail, self._decoder = self._decoder.flush(), None
                    if tail:
                        return tail
                return None
            else:
                await connection.wait(self._deadline, self._read)

    def close(self) -> None:
        """Done with the answer: a connection whose answer has not all arrived is closed."""
        if not self._done:
            self._done = True
            self._client.release(self._connection)

    def _decode(self, data: bytes) -> bytes:
        assert self._decoder is not None
        try:
            return self._decoder.decompress(data)
        except zlib.error:
            raise UpstreamConnectionError(
                "The provider sent a corrupt compressed answer."
            ) from None


def _decoder(encoding: str) -> zlib._Decompress:
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj(32 + zlib.MAX_WBITS)  # zlib-wrapped, as RFC 9110 means it
    raise UpstreamConnectionError(f"The provider answered in an unsupported encoding {encoding!r}.")


class HttpClient:
    """Requests to any number of origins over at most ``max_connections`` open connections."""

    def __init__(
        self,
        max_connections: int,
        timeouts: Timeouts,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._limit = max_connections
        self._timeouts = timeouts
        self._ssl = ssl_context
        # (method, URL, headers) -> the origin and the request's head but for its length:
        # a provider sends the same few heads again and again.
        self._heads: dict[tuple[str, str, tuple[tuple[str, str], ...]], tuple[_Origin, bytes]] = {}
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._open = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._deadlines = _Deadlines()
        self._closed = False

    async def request(
        self,
        method: str,
        url: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Send the request and wait for the answer's status and headers."""
        loop = asyncio.get_running_loop()
        timeouts = self._timeouts
        deadline = loop.time() + timeouts.total
        origin, head = self._head(method, url, headers)
        if body is None:
            data = head + b"\r\n"
        else:
            data = b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body)
        for attempt in (0, 1):
            connection = await self._acquire(origin, loop, deadline)
            reused = connection.used > 0
            connection.send(data)
            try:
                while not connection.head_done:
                    await connection.wait(deadline, timeouts.read)
            except BaseException as error:
                connection.close()
                self.release(connection)
                stale = reused and not connection.received  # closed by the server while idle
                if attempt == 0 and stale and isinstance(error, UpstreamConnectionError):
                    continue  # nothing was answered: a new connection is safe
                raise
            return Response(self, connection, deadline, timeouts.read)
        raise AssertionError("unreachable")

    def release(self, connection: _Connection) -> None:
        """A connection is done with: kept if it can carry another request, else forgotten."""
        if connection.reusable() and not self._closed:
            connection.idle_since = time.monotonic()
            self._idle.setdefault(connection.origin, []).append(connection)
        else:
            connection.close()
            self._forget(connection)
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break

    async def close(self) -> None:
        self._closed = True
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()

    def _head(
        self, method: str, url: str, headers: Mapping[str, str] | None
    ) -> tuple[_Origin, bytes]:
        key = (method, url, tuple(headers.items()) if headers else ())
        known = self._heads.get(key)
        if known is not None:
            return known
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UpstreamConnectionError("The provider's URL is not an http(s) URL.")
        secure = parts.scheme == "https"
        origin = _Origin(secure, parts.hostname, parts.port or (443 if secure else 80))
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        made = (origin, _encode_head(method, target, origin, key[2]))
        if len(self._heads) < 1024:
            self._heads[key] = made
        return made

    async def _acquire(
        self, origin: _Origin, loop: asyncio.AbstractEventLoop, deadline: float
    ) -> _Connection:
        connection = self._idle_connection(origin)
        if connection is not None:
            return connection
        connect_by = min(deadline, loop.time() + self._timeouts.connect)
        while self._open >= self._limit:
            if not self._evict_idle():
                waiter = loop.create_future()
                self._waiters.append(waiter)
                timer = loop.call_at(connect_by, _time_out, waiter)
                try:
                    await waiter
                finally:
                    timer.cancel()
                connection = self._idle_connection(origin)
                if connection is not None:
                    return connection
        self._open += 1
        connection = _Connection(origin, loop, self._deadlines)
        try:
            async with asyncio.timeout_at(connect_by):
                await loop.create_connection(
                    lambda: connection,
                    origin.host,
                    origin.port,
                    ssl=self._context() if origin.secure else None,
                    server_hostname=origin.host if origin.secure else None,
                )
        except BaseException as error:
            self._open -= 1
            if isinstance(error, OSError) and not isinstance(error, TimeoutError):
                raise UpstreamConnectionError(f"Could not connect: {error.strerror}") from None
            raise
        return connection

    def _idle_connection(self, origin: _Origin) -> _Connection | None:
        """A kept connection to ``origin`` still open and not idle too long; others closed."""
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < IDLE_SECONDS:
                return connection
            connection.close()
            self._forget(connection)
        return None

    def _evict_idle(self) -> bool:
        """Close one idle connection (to another origin) to make room; False if none."""
        for connections in self._idle.values():
            if connections:
                connection = connections.pop(0)
                connection.close()
                self._forget(connection)
                return True
        return False

    def _forget(self, connection: _Connection) -> None:
        if connection.counted:
            connection.counted = False
            self._open -= 1

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl


def _encode_head(
    method: str, target: str, origin: _Origin, headers: tuple[tuple[str, str], ...]
) -> bytes:
    """The request's head up to its length line (which each request adds, with the blank
    line ending the head)."""
    lines = [f"{method} {target} HTTP/1.1\r\nHost: {origin.host_header}\r\n"]
    lines += [f"{name}: {value}\r\n" for name, value in headers]
    head = "".join(lines).encode("latin-1")
    # Checked once, as a whole: no header smuggled a line break in (each line has its own).
    ends = len(lines) + 1  # the request line and Host share the first piece
    if head.count(b"\n") != ends or head.count(b"\r") != ends:
        raise UpstreamConnectionError("A header for the provider holds a line break.")
    return head
