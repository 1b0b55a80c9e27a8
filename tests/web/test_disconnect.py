"""Cancelling the work of a client that left: by the connection's callback, or by ``receive``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from starlette.requests import Request

from serika.errors import ClientDisconnected
from serika.web.disconnect import unless_disconnected
from serika.web.http_server import DISCONNECT_EXTENSION

GUARD = 10.0


def run(scenario: Callable[[], Any]) -> None:
    async def guarded() -> None:
        await asyncio.wait_for(scenario(), GUARD)

    asyncio.run(guarded())


class Connection:
    """Both ways a server can tell of a disconnect: ``receive``, and the extension."""

    def __init__(self, with_extension: bool) -> None:
        self.gone = asyncio.Event()
        self.callbacks: list[Callable[[], None]] = []
        self.scope: dict[str, Any] = {"type": "http", "method": "POST", "headers": []}
        if with_extension:
            self.scope["extensions"] = {DISCONNECT_EXTENSION: self.register}

    def register(self, callback: Callable[[], None]) -> Callable[[], None]:
        self.callbacks.append(callback)
        return lambda: self.callbacks.remove(callback)

    async def receive(self) -> dict[str, Any]:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    def leave(self) -> None:
        self.gone.set()
        for callback in list(self.callbacks):
            callback()

    def request(self) -> Request:
        return Request(self.scope, self.receive)


@pytest.mark.parametrize("with_extension", [True, False], ids=["extension", "receive"])
def test_a_client_leaving_cancels_the_work_and_raises_client_disconnected(
    with_extension: bool,
) -> None:
    async def scenario() -> None:
        connection = Connection(with_extension)
        cancelled = asyncio.Event()

        async def work() -> str:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.set()
                raise
            return "never"

        asyncio.get_running_loop().call_later(0.05, connection.leave)
        with pytest.raises(ClientDisconnected):
            await unless_disconnected(connection.request(), work())
        assert cancelled.is_set()
        assert connection.callbacks == []
        assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]

    run(scenario)


@pytest.mark.parametrize("with_extension", [True, False], ids=["extension", "receive"])
def test_work_that_ends_first_returns_and_the_watch_is_gone(with_extension: bool) -> None:
    async def scenario() -> None:
        connection = Connection(with_extension)

        async def work() -> str:
            await asyncio.sleep(0.01)
            return "done"

        assert await unless_disconnected(connection.request(), work()) == "done"
        assert connection.callbacks == []
        connection.leave()  # a late disconnect cancels nothing
        await asyncio.sleep(0.05)
        assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]

    run(scenario)
