"""Server-Sent Events answers, sent from the request's own task."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from serika.web.disconnect import DisconnectWatch


class EventStream(Response):
    """An event stream whose pieces (encoded events) are sent one ``send`` each, as they come.

    Starlette's ``StreamingResponse`` runs every stream in an anyio task group with a second
    task listening for the disconnect (servers announcing ASGI 2.3, as uvicorn does). This one
    sends from the request's task and lets a ``DisconnectWatch`` cancel it when the client
    goes, which cancels whatever the iterator awaits (the upstream read). The iterator is
    closed before the answer returns, however it ends, so its cleanup runs at once.
    """

    media_type = "text/event-stream"

    def __init__(
        self, events: AsyncIterator[bytes], headers: Mapping[str, str] | None = None
    ) -> None:
        self.events = events
        self.status_code = 200
        self.background = None
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watch = DisconnectWatch(scope, receive)
        try:
            try:
                await send(
                    {
                        "type": "http.response.start",
                        "status": self.status_code,
                        "headers": self.raw_headers,
                    }
                )
                async for piece in self.events:
                    await send({"type": "http.response.body", "body": piece, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            finally:
                watch.stop()
                close = getattr(self.events, "aclose", None)
                if close is not None:
                    await close()
        except asyncio.CancelledError:
            if not watch.left:
                raise
            watch.absorb()  # the client left: nothing more to send, nobody to tell
        except OSError:
            # Servers on ASGI 2.4 report a closed connection by raising from ``send``.
            raise ClientDisconnect() from None
