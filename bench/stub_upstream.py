"""A minimal, fast OpenAI-compatible upstream for benchmarks: it records nothing.

``POST /v1/chat/completions`` (and ``/v1/completions``) answers one fixed ``chat.completion``
with usage. With ``"stream": true`` it answers Server-Sent Events: a role chunk, three content
chunks, a finish chunk, a usage chunk when ``stream_options.include_usage`` is set, then
``[DONE]``. Every answer is pre-encoded at import time, so the stub does as little per request
as aiohttp allows.

    python bench/stub_upstream.py --port 18301
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from aiohttp import web

CREATED = 1_700_000_000
USAGE = {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}

COMPLETION = orjson.dumps(
    {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": CREATED,
        "model": "stub-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello! How can I help you today?"},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": USAGE,
    }
)


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": "stub-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


STREAM_EVENTS = [
    _event(_chunk({"role": "assistant", "content": ""})),
    _event(_chunk({"content": "Hello!"})),
    _event(_chunk({"content": " How can I"})),
    _event(_chunk({"content": " help you today?"})),
    _event(_chunk({}, "stop")),
]
USAGE_EVENT = _event(
    {
        "id": "chatcmpl-stub",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": "stub-model",
        "choices": [],
        "usage": USAGE,
    }
)
DONE_EVENT = b"data: [DONE]\n\n"
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


async def completions(request: web.Request) -> web.StreamResponse:
    raw = await request.read()
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        return web.json_response({"error": {"message": "invalid JSON"}}, status=400)
    if not isinstance(body, dict) or not body.get("stream"):
        return web.Response(body=COMPLETION, content_type="application/json")
    options = body.get("stream_options")
    with_usage = isinstance(options, dict) and bool(options.get("include_usage"))
    response = web.StreamResponse(headers=SSE_HEADERS)
    await response.prepare(request)
    for event in STREAM_EVENTS:
        await response.write(event)
    if with_usage:
        await response.write(USAGE_EVENT)
    await response.write(DONE_EVENT)
    await response.write_eof()
    return response


async def health(_request: web.Request) -> web.Response:
    return web.Response(body=b'{"status":"ok"}', content_type="application/json")


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    app.router.add_post("/v1/completions", completions)
    app.router.add_get("/healthz", health)
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
    args = parser.parse_args()
    run(lambda: serve(args.host, args.port, make_app()))


if __name__ == "__main__":
    main()
