"""Cancelling work the caller no longer waits for."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request
from starlette.types import Receive

from serika.errors import ClientDisconnected

T = TypeVar("T")


class DisconnectWatch:
    """Cancels the task that starts it when the client disconnects, until ``stop``.

    One plain asyncio task reading ``receive`` (the request body must have been read). The
    work itself stays in the request's own task: no second task, no task group. Code that
    catches the ``CancelledError`` checks ``left`` to tell a disconnect from any other
    cancellation, and calls ``absorb`` before carrying on.
    """

    __slots__ = ("_task", "_watcher", "left")

    def __init__(self, receive: Receive) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self.left = False
        self._watcher = asyncio.ensure_future(self._watch(receive))

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.left = True
        self._task.cancel()

    def absorb(self) -> None:
        """Take back the cancellation this watch made (the caller handles the disconnect)."""
        self._task.uncancel()

    def stop(self) -> None:
        self._watcher.cancel()


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """Await ``work`` in this task; if the client disconnects first, cancel it (and so the
    upstream call) and raise ``ClientDisconnected``."""
    watch = DisconnectWatch(request.receive)
    try:
        return await work
    except asyncio.CancelledError:
        if watch.left:
            watch.absorb()
            raise ClientDisconnected("The client closed the connection.") from None
        raise
    finally:
        watch.stop()
