"""A small pipelined Redis client for the hot path: one connection, many commands in flight.

redis-py's asyncio client checks a connection out of its pool, packs, sends, and parses for
every command; for the one script call a request makes that was most of what the limit check
cost. Here every command is written to one shared connection as soon as it is issued (the
writes of one event-loop tick go out in one ``write``), and replies, which Redis sends in
order, are matched first-in first-out to the callers' futures and parsed by hiredis.

- A command that cannot be answered fails, it never hangs: when the connection is lost,
  every command in flight fails with ``RespConnectionError``; when Redis stops answering
  for ``timeout`` seconds the connection is dropped and the same happens. The next command
  connects again. A command that was sent is never sent twice: whether it ran is unknown.
- ``Script`` runs a Lua script by its SHA1 (``EVALSHA``): loaded on every new connection,
  and again whenever Redis answers ``NOSCRIPT``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import logging
import ssl
from collections.abc import Callable, Sequence
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

import hiredis

log = logging.getLogger(__name__)


class RespError(Exception):
    """Redis answered a command with an error reply."""


class RespConnectionError(ConnectionError):
    """Redis could not be reached, or the connection was lost before the reply came."""


# hiredis's stub types its argument as a 1-tuple and its result as Any
_pack: Callable[[tuple[str | bytes | int, ...]], bytes] = hiredis.pack_command  # type: ignore[assignment]


def pack(*args: str | bytes | int) -> bytes:
    """One command in the Redis protocol (RESP)."""
    return _pack(args)


class _Connection(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop, on_lost: Callable[[_Connection], None]):
        self._loop = loop
        self._reader = hiredis.Reader(replyError=RespError)
        self._pending: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._on_lost = on_lost
        self._transport: asyncio.Transport | None = None
        self._out: list[bytes] = []
        self.replies = 0  # replies received so far: the watchdog's sign of life
        self.lost: RespConnectionError | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def request(
        self, command: bytes, future: asyncio.Future[Any] | None = None
    ) -> asyncio.Future[Any]:
        """Send ``command``: at once when no other command is waiting for its reply (a lone
        caller gains nothing by waiting); otherwise the commands of one event-loop tick are
        written together, once the tick ends. ``future`` (a new one if not given) gets the
        reply."""
        if future is None:
            future = self._loop.create_future()
        pending = self._pending
        if not pending and self._transport is not None and self.lost is None:
            self._transport.write(command)
        else:
            out = self._out
            if not out:
                self._loop.call_soon(self._flush)
            out.append(command)
        pending.append(future)
        return future

    def _flush(self) -> None:
        out, self._out = self._out, []
        if self._transport is not None and self.lost is None and out:
            self._transport.write(b"".join(out) if len(out) > 1 else out[0])

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        reader.feed(data)
        pending = self._pending
        reply = reader.gets()
        while reply is not False:
            self.replies += 1
            future = pending.popleft()
            if not future.done():  # its caller may have been cancelled
                if type(reply) is RespError:
                    future.set_exception(reply)
                else:
                    future.set_result(reply)
            reply = reader.gets()

    def busy(self) -> bool:
        return bool(self._pending)

    def abort(self, reason: str) -> None:
        if self.lost is None:
            self.lost = RespConnectionError(reason)
        if self._transport is not None:
            self._transport.abort()  # connection_lost follows, from the event loop
        else:
            self._fail_pending()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lost is None:
            self.lost = RespConnectionError(f"connection to Redis lost: {exc or 'closed'}")
        self._fail_pending()
        self._on_lost(self)

    def _fail_pending(self) -> None:
        while self._pending:
            future = self._pending.popleft()
            if not future.done():
                future.set_exception(RespConnectionError(str(self.lost)))


class RespClient:
    """Commands over one pipelined connection to the Redis server at ``url``.

    ``redis://[[user]:password@]host[:port][/db]`` (``rediss://``: over TLS, the server's
    certificate verified) or ``unix:///path?db=N``. ``timeout`` bounds connecting and the
    wait for any reply (a reply may take up to 1.25 times it). Commands issued while
    connecting wait, in order, and go out once connected.
    """

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self._target, self._setup = _parse_url(url)
        target = self._target
        self._where = target if isinstance(target, str) else f"{target[0]}:{target[1]}"
        self._tls = url.startswith("rediss:")
        self._timeout = timeout
        self._connection: _Connection | None = None
        self._backlog: list[tuple[bytes, asyncio.Future[Any]]] = []
        self._connecting: asyncio.Task[None] | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._closed = False

    def on_connect(self, command: bytes) -> None:
        """Send ``command`` first on every new connection (``SCRIPT LOAD``, say)."""
        self._setup.append(command)

    def request(self, command: bytes) -> asyncio.Future[Any]:
        """Queue one packed command (``pack``); the future has its reply or raises."""
        connection = self._connection
        if connection is not None and connection.lost is None:
            return connection.request(command)
        if self._closed:
            raise RespConnectionError("the Redis client is closed")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._backlog.append((command, future))
        if self._connecting is None:
            self._connecting = loop.create_task(self._connect())
        return future

    async def execute(self, *args: str | bytes | int) -> Any:
        return await self.request(pack(*args))

    async def close(self) -> None:
        self._closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
        connection, self._connection = self._connection, None
        if connection is not None and connection.lost is None:
            connection.abort("the Redis client was closed")
            await asyncio.sleep(0)  # let connection_lost run

    async def _connect(self) -> None:
        try:
            connection = await self._open()
        except RespConnectionError as error:
            self._connecting = None
            self._fail_backlog(str(error))
            return
        except asyncio.CancelledError:
            self._connecting = None
            self._fail_backlog("the Redis client was closed")
            raise
        self._connecting = None
        self._connection = connection
        backlog, self._backlog = self._backlog, []
        for command, future in backlog:
            if not future.done():  # a caller that gave up is not sent
                connection.request(command, future)
        if self._watchdog is None:
            self._watch(connection, connection.replies, None)

    def _fail_backlog(self, reason: str) -> None:
        backlog, self._backlog = self._backlog, []
        for _, future in backlog:
            if not future.done():
                future.set_exception(RespConnectionError(reason))

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        connection = _Connection(loop, self._lost)
        try:
            async with asyncio.timeout(self._timeout):
                if isinstance(self._target, str):
                    await loop.create_unix_connection(lambda: connection, self._target)
                else:
                    tls = ssl.create_default_context() if self._tls else None
                    await loop.create_connection(lambda: connection, *self._target, ssl=tls)
                await asyncio.gather(*(connection.request(c) for c in self._setup))
        except (OSError, TimeoutError, RespError) as error:
            connection.abort("could not set up the connection")
            reason = str(error) or f"no answer in {self._timeout:g} s"
            raise RespConnectionError(
                f"cannot connect to Redis at {self._where}: {reason}"
            ) from None
        return connection

    def _lost(self, connection: _Connection) -> None:
        if self._connection is connection:
            self._connection = None
            if not self._closed:
                log.warning("%s", connection.lost)

    def _watch(self, connection: _Connection, replies: int, stalled: float | None) -> None:
        """Every quarter of the timeout: drop a connection that owes replies and sends none."""
        self._watchdog = None
        if self._closed:
            return
        if self._connection is not connection:
            if self._connection is None:
                return  # the next connection starts its own watch
            connection, replies, stalled = self._connection, self._connection.replies, None
        loop = asyncio.get_running_loop()
        now = loop.time()
        if connection.busy() and connection.replies == replies:
            if stalled is None:
                stalled = now
            elif now - stalled >= self._timeout:
                connection.abort(f"Redis sent no reply for {self._timeout:g} s")
                return
        else:
            stalled = None
        self._watchdog = loop.call_later(
            self._timeout / 4, self._watch, connection, connection.replies, stalled
        )


def bulk(value: str | bytes | int) -> bytes:
    """One RESP bulk string (an item of a command)."""
    if isinstance(value, int):
        value = b"%d" % value
    elif isinstance(value, str):
        value = value.encode()
    return b"$%d\r\n%s\r\n" % (len(value), value)


class Script:
    """A Lua script run with ``EVALSHA`` (loaded again whenever Redis answers ``NOSCRIPT``)."""

    def __init__(self, client: RespClient, source: str) -> None:
        self._client = client
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
        self.load = pack("SCRIPT", "LOAD", source)
        client.on_connect(self.load)
        self._heads: dict[tuple[int, int], bytes] = {}

    def command(self, keys: Sequence[bytes], args: Sequence[bytes]) -> bytes:
        """The packed ``EVALSHA`` of keys and arguments already packed by ``bulk`` (callers
        on a hot path keep the bulk strings they reuse)."""
        return self.head(len(keys), len(args)) + b"".join(keys) + b"".join(args)

    def head(self, key_count: int, arg_count: int) -> bytes:
        """What an ``EVALSHA`` of this script with so many keys and arguments starts with."""
        shape = (key_count, arg_count)
        head = self._heads.get(shape)
        if head is None:
            head = b"*%d\r\n$7\r\nEVALSHA\r\n%s%s" % (
                3 + key_count + arg_count,
                bulk(self.sha),
                bulk(key_count),
            )
            if len(self._heads) < 64:
                self._heads[shape] = head
        return head

    async def run(self, command: bytes) -> Any:
        """Send a ``command`` of this script (queued before the first suspension)."""
        try:
            return await self._client.request(command)
        except RespError as error:
            return await self.again(command, error)

    async def again(self, command: bytes, error: RespError) -> Any:
        """After ``command`` failed with ``error``: load the script and send it again if
        Redis no longer had the script, else raise ``error``. (Callers on a hot path await the
        client's future themselves, one coroutine frame fewer, and call this on an error.)"""
        if not self.missing(error):
            raise error
        await self._client.request(self.load)
        return await self._client.request(command)

    @staticmethod
    def missing(error: RespError) -> bool:
        """Whether Redis answered that it does not have the script (after a SCRIPT FLUSH)."""
        return str(error).startswith("NOSCRIPT")

    async def __call__(self, keys: Sequence[str], args: Sequence[str | bytes | int]) -> Any:
        """Run the script with ``keys`` and ``args``."""
        return await self.run(self.command([bulk(k) for k in keys], [bulk(a) for a in args]))


def _parse_url(url: str) -> tuple[tuple[str, int] | str, list[bytes]]:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if parts.scheme in ("redis", "rediss"):
        target: tuple[str, int] | str = (parts.hostname or "localhost", parts.port or 6379)
        path = parts.path.strip("/")
        db = int(path) if path else int(query.get("db", ["0"])[0])
    elif parts.scheme == "unix":
        target = parts.path
        db = int(query.get("db", ["0"])[0])
    else:
        raise ValueError(f"Redis URL scheme {parts.scheme!r}: redis://, rediss:// or unix://")
    setup = []
    if parts.password is not None:
        password = unquote(parts.password)
        if parts.username:
            setup.append(pack("AUTH", unquote(parts.username), password))
        else:
            setup.append(pack("AUTH", password))
    if db:
        setup.append(pack("SELECT", db))
    return target, setup
