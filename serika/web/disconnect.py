"""Cancelling work the caller no longer waits for."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from starlette.requests import Request
from starlette.types import Receive, Scope

from serika.errors import ClientDisconnected
from serika.web.http_server import DISCONNECT_EXTENSION

T = TypeVar("T")


class DisconnectWatch:
    """Cancels the task that starts it when the client disconnects, until ``stop``.

    Under Serika's own HTTP protocol the connection itself calls back (the scope's
    ``serika.on_disconnect`` extension): nothing runs while the client stays. Under any other
    server, one plain asyncio task reads ``receive`` (the request body must have been read).
    Either way the work stays in the request's own task: no task group. Code that catches the
    ``CancelledError`` checks ``left`` to tell a disconnect from any other cancellation, and
    calls ``absorb`` before carrying on.
    """

    __slots__ = ("_forget", "_task", "_watcher", "left")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self.left = False
        on_disconnect = (scope.get("extensions") or {}).get(DISCONNECT_EXTENSION)
        self._watcher: asyncio.Future[None] | None = None
        self._forget: Callable[[], None] | None = None
        if on_disconnect is not None:
            self._forget = on_disconnect(self._gone)
        else:
            self._watcher = asyncio.ensure_future(self._watch(receive))

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self._gone()

    def _gone(self) -> None:
        self.left = True
        self._task.cancel()

    def absorb(self) -> None:
        """Take back the cancellation this watch made (the caller handles the disconnect)."""
        self._task.uncancel()

    def stop(self) -> None:
        if self._forget is not None:
            self._forget()
            self._forget = None  # it holds ``_gone``, and so this watch: a reference cycle
        if self._watcher is not None:
            self._watcher.cancel()


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """Await ``work`` in this task; if the client disconnects first, cancel it (and so the
    upstream call) and raise ``ClientDisconnected``."""
    watch = DisconnectWatch(request.scope, request.receive)
    try:
        return await work
    except asyncio.CancelledError:
        if watch.left:
            watch.absorb()
            raise ClientDisconnected("The client closed the connection.") from None
        raise
    finally:
        watch.stop()
