"""A pure ASGI middleware that refuses bodies over the configured size with a 413.

A body with a ``Content-Length`` is judged by it before anything is read (the server then
hands over exactly that many bytes); one without (chunked) is counted as it comes in.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serika.errors import RequestTooLarge
from serika.web.http_server import BODY_EXTENSION
from serika.web.responses import error_response


def too_large(max_bytes: int) -> RequestTooLarge:
    return RequestTooLarge(
        f"The request body is larger than the {max_bytes} bytes this server accepts."
    )


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    over = int(value) > self.max_bytes
                except ValueError:
                    break
                if over:
                    await error_response(too_large(self.max_bytes))(scope, receive, send)
                    return
                # The server hands over exactly that many bytes: nothing left to count.
                await self.app(scope, receive, send)
                return
        # A body without a valid length (chunked) is counted as it comes: it must not be
        # handed over whole (the server's ``serika.whole_body``), past the count.
        extensions = scope.get("extensions")
        if extensions and BODY_EXTENSION in extensions:
            scope["extensions"] = {k: v for k, v in extensions.items() if k != BODY_EXTENSION}
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise too_large(self.max_bytes)
            return message

        await self.app(scope, limited, send)
