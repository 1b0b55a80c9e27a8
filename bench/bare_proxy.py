"""The floor for any Python gateway: a pass-through proxy with no auth, routing or metering.

Every POST is forwarded, body untouched, to the same path on the upstream with one shared
``aiohttp.ClientSession`` (a pooled connector, as Serika's providers use); the answer's bytes
come back as they are. Server-Sent Events are forwarded chunk by chunk as they arrive.

    python bench/bare_proxy.py --port 18302 --upstream http://127.0.0.1:18301
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import aiohttp
from aiohttp import web

SESSION = web.AppKey("session", aiohttp.ClientSession)
UPSTREAM = web.AppKey("upstream", str)


async def forward(request: web.Request) -> web.StreamResponse:
    session = request.app[SESSION]
    body = await request.read()
    async with session.post(
        request.app[UPSTREAM] + request.path,
        data=body,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    ) as answer:
        content_type = answer.headers.get("Content-Type", "application/json")
        if not content_type.startswith("text/event-stream"):
            return web.Response(
                body=await answer.read(),
                status=answer.status,
                headers={"Content-Type": content_type},
            )
        response = web.StreamResponse(
            status=answer.status,
            headers={"Content-Type": content_type, "Cache-Control": "no-cache"},
        )
        await response.prepare(request)
        async for data in answer.content.iter_any():
            await response.write(data)
        await response.write_eof()
        return response


async def health(_request: web.Request) -> web.Response:
    return web.Response(body=b'{"status":"ok"}', content_type="application/json")


def make_app(upstream: str, max_connections: int) -> web.Application:
    app = web.Application()
    app[UPSTREAM] = upstream.rstrip("/")

    async def session_context(app: web.Application) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=max_connections)
        async with aiohttp.ClientSession(
            connector=connector, skip_auto_headers=("User-Agent",)
        ) as session:
            app[SESSION] = session
            yield

    app.cleanup_ctx.append(session_context)
    app.router.add_get("/healthz", health)
    app.router.add_post("/{tail:.*}", forward)
    return app


async def serve(host: str, port: int, app: web.Application) -> None:
    """Serve ``app`` without access logs until SIGTERM or SIGINT."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``main`` on uvloop when it is installed (as uvicorn does for Serika)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
        return
    uvloop.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:18301")
    parser.add_argument("--max-connections", type=int, default=256)
    args = parser.parse_args()
    run(lambda: serve(args.host, args.port, make_app(args.upstream, args.max_connections)))


if __name__ == "__main__":
    main()
