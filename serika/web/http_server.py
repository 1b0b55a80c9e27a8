"""HTTP/1.1 for uvicorn: the connection protocol Serika's server speaks (``http=`` of uvicorn).

uvicorn still runs the process (sockets, workers, signals, lifespan, graceful shutdown); this
class replaces its httptools protocol, which is the same parser with more work per request
around it: every response header checked by two regular expressions (an answer carries
twelve or more, six of them ``x-ratelimit-*``), an ``asyncio.Event`` and a timer per request,
and the head and the body of every answer written (and sent) separately. Here:

- the head of an answer with a known length goes out in one write with its body (one
  segment, one wake-up of the client instead of two);
- the head is checked once, as a whole, in one pass: no control characters but the CR LF
  ending each line, so no header can smuggle a line; a header name is checked once per
  connection and remembered;
- a waiting ``receive`` is a plain future, and one keep-alive timer per connection re-arms
  itself instead of a timer per request;
- a request body that has already arrived whole can be taken in one piece (the
  ``serika.whole_body`` scope extension) rather than as ASGI messages;
- header lines the application has already encoded (its own constant names, values it
  formatted) can be added to the answer's head as they are (the ``serika.head_lines`` scope
  extension, a list they are appended to) rather than as pairs looked at one by one; they
  are checked with the rest of the head, against the number of lines the application says
  they are; lines made only from constant text and numbers (``serika.safe_head_lines``)
  join the head after the check, which could find nothing in them;
- an answer whose body is all there can be given in one call (the ``serika.answer`` scope
  extension) rather than as two ASGI messages;
- a request without ``X-Forwarded-*`` headers skips uvicorn's proxy-header middleware, which
  would change nothing in it.

The behaviour is uvicorn's: keep-alive and its timeout, ``Expect: 100-continue``, pipelined
requests answered in order, request bodies streamed with back-pressure, chunked answers when
no length is given, ``HEAD``, ``http.disconnect`` once the client is gone (or the answer
complete), a 500 for an application that fails before answering, graceful shutdown, and the
access log when it is on.
"""

from __future__ import annotations

import asyncio
import logging
import re
import urllib.parse
from collections import deque
from collections.abc import Callable
from typing import Any, cast

import httptools
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import STATUS_LINE
from uvicorn.protocols.utils import (
    get_client_addr,
    get_local_addr,
    get_path_with_query_string,
    get_remote_addr,
    is_ssl,
)

_LOG = logging.getLogger("uvicorn.error")
_ACCESS = logging.getLogger("uvicorn.access")
_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9a-zA-Z]+\Z")
# The control characters (all but tab): a head carries none but the CR LF ending each line.
_CONTROLS = bytes(range(9)) + bytes(range(10, 32)) + b"\x7f"
_DISCONNECT = {"type": "http.disconnect"}
# The scope extension through which the connection calls back when the client goes.
DISCONNECT_EXTENSION = "serika.on_disconnect"
# The scope extension that hands over a request body that has already arrived whole.
BODY_EXTENSION = "serika.whole_body"
# The scope extension that gives a whole answer at once (``_Exchange.answer``).
ANSWER_EXTENSION = "serika.answer"
# The scope extension that adds header lines already encoded to the answer's head: a list to
# append ``(lines, how many)`` to, the lines each ``name: value`` and CR LF (names in lower
# case, none of Content-Length, Transfer-Encoding or Connection). The whole head is checked as
# usual: a line break or control character anywhere but at the end of the lines said to be
# there (a value that would start a line of its own) fails the answer.
HEAD_EXTENSION = "serika.head_lines"
# The scope extension for header lines the application made only from constant text and
# numbers it formatted (its own names, limits, counts): a list to append such lines to (each
# ``name: value`` and CR LF; names in lower case, none of the framing headers). They are added
# to the head as they are, after the check, which would only find what cannot be there: the
# check's cost is per byte, and an answer of a limited call carries six such lines.
SAFE_HEAD_EXTENSION = "serika.safe_head_lines"
_KNOWN_NAMES_MAX = 1024
# Request headers noted as they are parsed.
_NOTED = frozenset((b"expect", b"x-forwarded-for", b"x-forwarded-proto"))
# The answer's headers that frame it or end the connection.
_FRAMING = frozenset((b"content-length", b"transfer-encoding", b"connection"))


class _Exchange:
    """One request and its answer on a connection: the ``receive`` and ``send`` of ASGI."""

    __slots__ = (
        "app",
        "body",
        "body_done",
        "chunked",
        "continue_wanted",
        "disconnected",
        "head",
        "keep_alive",
        "length_left",
        "lines",
        "method",
        "more_body",
        "on_gone",
        "protocol",
        "response_complete",
        "response_started",
        "safe_lines",
        "scope",
        "waiters",
    )

    def __init__(
        self,
        protocol: ServerProtocol,
        scope: dict[str, Any],
        keep_alive: bool,
        expect: bool,
        app: Any,
    ) -> None:
        self.protocol = protocol
        self.app = app
        self.scope = scope
        self.method = scope["method"]
        self.keep_alive = keep_alive
        self.continue_wanted = expect
        self.body = bytearray()
        self.more_body = True
        self.body_done = False  # the last part of the request body was handed over
        self.disconnected = False
        self.response_started = False
        self.response_complete = False
        self.chunked = False
        self.length_left = 0
        self.head = b""  # the answer's head, until its body goes out with it
        self.lines: list[tuple[bytes, int]] = []  # header lines added through the extension
        self.safe_lines: list[bytes] = []  # and those made from constants and numbers
        self.waiters: list[asyncio.Future[None]] = []
        self.on_gone: list[Callable[[], None]] = []  # called if the client goes first
        scope["extensions"] = {
            DISCONNECT_EXTENSION: self.on_disconnect,
            BODY_EXTENSION: self.whole_body,
            HEAD_EXTENSION: self.lines,
            SAFE_HEAD_EXTENSION: self.safe_lines,
            ANSWER_EXTENSION: self.answer,
        }

    def on_disconnect(self, callback: Callable[[], None]) -> Callable[[], None]:
        """The ``serika.on_disconnect`` extension: ``callback`` runs (once, from the event
        loop) if the client goes before the answer is complete; returns its cancellation."""
        self.on_gone.append(callback)
        return lambda: self._forget(callback)

    def whole_body(self) -> bytes | None:
        """The ``serika.whole_body`` extension: the request body, when all of it has arrived
        and none of it was received yet, in one piece (then ``receive`` only waits for the
        client to go); ``None`` otherwise, and the body comes through ``receive`` as usual.
        Most API requests arrive in one segment, and this skips the ASGI message, the body
        stream and the join that reading them through ``receive`` costs."""
        if self.body_done or self.more_body or self.disconnected:
            return None
        self.body_done = True
        self.continue_wanted = False  # the client sent it all: nothing to tell it to go on
        body = bytes(self.body)
        self.body.clear()
        self.protocol.resume_reading()
        return body

    def _forget(self, callback: Callable[[], None]) -> None:
        if callback in self.on_gone:
            self.on_gone.remove(callback)

    def gone(self) -> None:
        self.disconnected = True
        self.wake()
        callbacks, self.on_gone = self.on_gone, []
        for callback in callbacks:
            callback()

    def wake(self) -> None:
        waiters, self.waiters = self.waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _wait(self) -> None:
        waiter = self.protocol.loop.create_future()
        self.waiters.append(waiter)
        await waiter

    async def receive(self) -> dict[str, Any]:
        protocol = self.protocol
        if self.continue_wanted:
            self.continue_wanted = False
            if not protocol.transport.is_closing():
                protocol.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if not self.body_done:
            while not self.body and self.more_body and not self.disconnected:
                protocol.resume_reading()
                await self._wait()
            if self.disconnected:
                return _DISCONNECT
            body = bytes(self.body)
            self.body.clear()
            more = self.more_body
            self.body_done = not more
            protocol.resume_reading()
            return {"type": "http.request", "body": body, "more_body": more}
        while not self.disconnected and not self.response_complete:
            await self._wait()
        return _DISCONNECT

    async def send(self, message: dict[str, Any]) -> None:
        protocol = self.protocol
        if protocol.write_paused and not self.disconnected:
            await protocol.drain()
        if self.disconnected:
            return
        kind = message["type"]
        if not self.response_started:
            if kind != "http.response.start":
                raise RuntimeError(
                    f"Expected ASGI message 'http.response.start', but got '{kind}'."
                )
            self._begin(message["status"], message.get("headers", ()))
            return
        if self.response_complete:
            raise RuntimeError(f"Unexpected ASGI message '{kind}' after the response completed.")
        if kind != "http.response.body":
            raise RuntimeError(f"Expected ASGI message 'http.response.body', but got '{kind}'.")
        self._body(message.get("body", b""), message.get("more_body", False))

    def answer(self, status: int, headers: Any, body: bytes) -> bool:
        """The ``serika.answer`` extension: the whole answer at once, as the two messages
        ``http.response.start`` and ``http.response.body`` (no more body) would give it,
        without them. ``False`` when it cannot be given so (the connection's writes are
        paused, the client went, an answer was started): send the messages instead."""
        if self.response_started or self.disconnected or self.protocol.write_paused:
            return False
        self._begin(status, headers)
        self._body(body, False)
        return True

    def _begin(self, status: int, headers: Any) -> None:
        self.response_started = True
        self.continue_wanted = False
        self._start(status, headers)
        if self.chunked:  # a stream: its head goes out now, not with its first part
            self._write(b"")

    def _body(self, body: bytes, more: bool) -> None:
        if self.method == "HEAD":
            self.length_left = 0
            self._write(b"")
        elif self.chunked:
            data = b"%x\r\n%s\r\n" % (len(body), body) if body else b""
            self._write(data + b"0\r\n\r\n" if not more else data)
        else:
            if len(body) > self.length_left:
                raise RuntimeError("Response content longer than Content-Length")
            self.length_left -= len(body)
            self._write(body)
        if not more:
            if self.length_left:
                raise RuntimeError("Response content shorter than Content-Length")
            self.response_complete = True
            self.wake()
            protocol = self.protocol
            if not self.keep_alive:
                protocol.transport.close()
            protocol.response_done(self)

    def _start(self, status: int, headers: Any) -> None:
        protocol = self.protocol
        lines = [STATUS_LINE[status]]
        for name, value in protocol.server_state.default_headers:
            lines += (name, b": ", value, b"\r\n")
        count = len(protocol.server_state.default_headers)
        length: int | None = None
        closing = False
        known = protocol.known_names
        for name, value in headers:
            lowered = known.get(name)
            if lowered is None:
                if not _NAME.match(name):
                    raise RuntimeError("Invalid HTTP header name.")
                lowered = name.lower()
                if len(known) < _KNOWN_NAMES_MAX:
                    known[name] = lowered
            if lowered in _FRAMING:
                if lowered == b"content-length":
                    if length is None:
                        length = int(value)
                elif lowered == b"transfer-encoding":
                    self.chunked = self.chunked or value.lower() == b"chunked"
                elif b"close" in value.lower():  # connection
                    self.keep_alive = False
                    closing = True
            lines += (lowered, b": ", value, b"\r\n")
            count += 1
        for added, how_many in self.lines:
            lines.append(added)
            count += how_many
        if not self.keep_alive and not closing:
            lines.append(b"connection: close\r\n")
            count += 1
        if length is not None and not self.chunked:
            self.length_left = length
        elif self.method != "HEAD" and status not in (204, 304):
            if not self.chunked:
                lines.append(b"transfer-encoding: chunked\r\n")
                count += 1
            self.chunked = True
        checked = b"".join(lines)
        # One pass over the head but its safe lines (a regular expression per header cost more
        # than the rest of the answer): deleting every control character must remove exactly
        # the CR LF of the status line and of each header line, so no name or value holds a
        # line break or any other control. The safe lines and the blank line follow.
        if len(checked) - len(checked.translate(None, _CONTROLS)) != 2 * (count + 1):
            raise RuntimeError("Invalid HTTP header value.")
        self.head = b"".join((checked, *self.safe_lines, b"\r\n"))
        if protocol.access_log:  # uvicorn's line
            scope: Any = self.scope
            _ACCESS.info(
                '%s - "%s %s HTTP/%s" %d',
                get_client_addr(scope),
                scope["method"],
                get_path_with_query_string(scope),
                scope["http_version"],
                status,
            )

    def _write(self, data: bytes) -> None:
        head, self.head = self.head, b""
        out = head + data if head else data
        if out:
            self.protocol.transport.write(out)


class ServerProtocol(asyncio.Protocol):
    """One client connection (uvicorn builds one per connection, as it would its own)."""

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not config.loaded:
            config.load()
        self.app = config.loaded_app
        # uvicorn's proxy-header middleware changes nothing in a request without X-Forwarded-*
        # headers, and those skip it.
        self.direct_app = self.app.app if type(self.app) is ProxyHeadersMiddleware else self.app
        self.loop = _loop or asyncio.get_event_loop()
        self.server_state = server_state
        self.app_state = app_state
        self.connections: set[Any] = server_state.connections
        self.tasks: set[asyncio.Task[None]] = server_state.tasks
        self.root_path: str = config.root_path
        self.keep_alive_seconds: float = config.timeout_keep_alive
        self.access_log = bool(config.access_log) and _ACCESS.hasHandlers()
        self.known_names: dict[bytes, bytes] = {}  # valid header names: their lower case
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport = cast(asyncio.Transport, None)
        self.server: tuple[str, int | None] | None = None
        self.client: tuple[str, int] | None = None
        self.scheme = "http"
        self.exchange: _Exchange | None = None
        self.pipeline: deque[_Exchange] = deque()
        self.read_paused = False
        self.write_paused = False
        self._writable: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._idle_since = 0.0
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._expect = False
        self._forwarded = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.connections.add(self)
        self.server = get_local_addr(self.transport)
        self.client = get_remote_addr(self.transport)
        self.scheme = "https" if is_ssl(self.transport) else "http"
        self._idle()

    def data_received(self, data: bytes) -> None:
        self._idle_since = 0.0
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(b"This server does not support protocol upgrades.")
        except httptools.HttpParserError:
            _LOG.warning("Invalid HTTP request received.")
            self._refuse(b"Invalid HTTP request received.")

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for exchange in (self.exchange, *self.pipeline):
            if exchange is not None and not exchange.response_complete:
                exchange.gone()
        self.pipeline.clear()
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self.write_paused = False

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    # httptools
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._expect = False
        self._forwarded = False

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name in _NOTED:
            if name != b"expect":
                self._forwarded = True
            elif value.lower() == b"100-continue":
                self._expect = True
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        url = httptools.parse_url(self._url)
        raw_path = url.path
        path = raw_path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        version = parser.get_http_version()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": version,
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,
            "method": parser.get_method().decode("ascii"),
            "root_path": self.root_path,
            "path": self.root_path + path,
            "raw_path": self.root_path.encode("ascii") + raw_path,
            "query_string": url.query or b"",
            "headers": self._headers,
            "state": self.app_state.copy(),
        }
        keep_alive = version != "1.0" and parser.should_keep_alive()
        app = self.app if self._forwarded else self.direct_app
        exchange = _Exchange(self, scope, keep_alive, self._expect, app)
        if self.exchange is None or self.exchange.response_complete:
            self.exchange = exchange
            self._run(exchange)
        else:  # pipelined: answered when the one before it is
            self.pause_reading()
            self.pipeline.append(exchange)

    def on_body(self, body: bytes) -> None:
        exchange = self.pipeline[-1] if self.pipeline else self.exchange
        if exchange is None or exchange.response_complete:
            return
        exchange.body += body
        if len(exchange.body) > HIGH_WATER_LIMIT:
            self.pause_reading()
        exchange.wake()

    def on_message_complete(self) -> None:
        exchange = self.pipeline[-1] if self.pipeline else self.exchange
        if exchange is None or exchange.response_complete:
            return
        exchange.more_body = False
        exchange.wake()

    # the server's side
    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: close when idle, else after the current answer."""
        exchange = self.exchange
        if exchange is None or exchange.response_complete:
            self.transport.close()
        else:
            exchange.keep_alive = False

    def response_done(self, exchange: _Exchange) -> None:
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.resume_reading()
        if self.pipeline:
            following = self.pipeline.popleft()
            self.exchange = following
            self._run(following)
        else:
            self._idle()

    def pause_reading(self) -> None:
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()

    async def drain(self) -> None:
        if self._writable is None:
            self._writable = self.loop.create_future()
        await self._writable

    def _run(self, exchange: _Exchange) -> None:
        task = self.loop.create_task(self._serve(exchange))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    async def _serve(self, exchange: _Exchange) -> None:
        try:
            try:
                result = await exchange.app(exchange.scope, exchange.receive, exchange.send)
            except BaseException as error:
                _LOG.error("Exception in ASGI application\n", exc_info=error)
                if not exchange.response_started:
                    await self._answer_500(exchange)
                else:
                    self.transport.close()
                if not isinstance(error, Exception):
                    raise
                return
            if result is not None:
                _LOG.error("ASGI callable should return None, but returned '%s'.", result)
                self.transport.close()
            elif not exchange.response_started and not exchange.disconnected:
                _LOG.error("ASGI callable returned without starting response.")
                await self._answer_500(exchange)
            elif not exchange.response_complete and not exchange.disconnected:
                _LOG.error("ASGI callable returned without completing response.")
                self.transport.close()
        finally:
            # The scope's extensions are the exchange's own methods: a reference cycle. Left
            # to the garbage collector, each request's exchange, scope and task waited for a
            # pass over every young object, and their numbers made it pass every ~35 requests
            # instead of every ~100 (0.3-0.5 ms each on the benchmark machine).
            exchange.scope = {}

    @staticmethod
    async def _answer_500(exchange: _Exchange) -> None:
        exchange.keep_alive = False
        exchange.lines.clear()  # meant for the answer the application did not give
        exchange.safe_lines.clear()
        await exchange.send(
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", b"21"),
                    (b"connection", b"close"),
                ],
            }
        )
        await exchange.send({"type": "http.response.body", "body": b"Internal Server Error"})

    def _refuse(self, message: bytes) -> None:
        self.transport.write(
            STATUS_LINE[400] + b"content-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (len(message), message)
        )
        self.transport.close()

    def _idle(self) -> None:
        """Close the connection once it has been idle for the keep-alive timeout: one timer
        per connection, which sets itself again while requests keep coming."""
        self._idle_since = self.loop.time()
        if self._timer is None:
            self._timer = self.loop.call_at(
                self._idle_since + self.keep_alive_seconds, self._check_idle
            )

    def _check_idle(self) -> None:
        self._timer = None
        exchange = self.exchange
        busy = exchange is not None and not exchange.response_complete
        if busy or self.transport.is_closing():
            return  # the answer's end sets the timer again
        if not self._idle_since:  # a request has begun arriving
            return
        ends = self._idle_since + self.keep_alive_seconds
        if self.loop.time() >= ends:
            self.transport.close()
        else:
            self._timer = self.loop.call_at(ends, self._check_idle)
