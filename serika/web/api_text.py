"""Text generation behind ``text_generation``: chat completions, completions, /generate/text."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from serika.errors import InvalidRequest, MissingParameter
from serika.gateway.text import Stream, completion_from_chat
from serika.keys.permissions import Permission
from serika.providers.base import Operation
from serika.web.bodies import json_object
from serika.web.disconnect import unless_disconnected
from serika.web.event_stream import EventStream
from serika.web.responses import JSON
from serika.web.routing import ApiCall, key_route, services

_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _answer(result: dict[str, Any] | Stream) -> Response:
    if isinstance(result, Stream):
        return EventStream(result.events, headers=_SSE_HEADERS)
    return JSON(result)


async def chat_completions(request: Request, call: ApiCall) -> Response:
    body = await json_object(request)
    work = services(request).text.call(Operation.CHAT, body, call.ticket)
    return _answer(await unless_disconnected(request, work))


async def completions(request: Request, call: ApiCall) -> Response:
    body = await json_object(request)
    work = services(request).text.call(Operation.COMPLETION, body, call.ticket)
    return _answer(await unless_disconnected(request, work))


async def generate_text(request: Request, call: ApiCall) -> Response:
    """The legacy Serika form: a prompt in, a ``text_completion`` out."""
    body = await json_object(request)
    prompt = body.get("prompt")
    if prompt is None or prompt == "":
        raise MissingParameter("you must provide a prompt", param="prompt")
    if not isinstance(prompt, str):
        raise InvalidRequest("prompt must be a string", param="prompt")
    gateway = services(request).text
    chat: dict[str, Any] = {
        "model": body.get("model") or gateway.default_model(),
        "messages": [{"role": "user", "content": prompt}],
    }
    for name in ("max_tokens", "temperature", "top_p", "stop", "character_id"):
        if body.get(name) is not None:
            chat[name] = body[name]
    result = await unless_disconnected(request, gateway.call(Operation.CHAT, chat, call.ticket))
    assert isinstance(result, dict)
    return JSON(completion_from_chat(result))


def routes() -> list[Route]:
    text = Permission.TEXT_GENERATION
    return [
        key_route(
            "/chat/completions", chat_completions, permission=text, methods=["POST"], reserves=True
        ),
        key_route("/completions", completions, permission=text, methods=["POST"], reserves=True),
        key_route(
            "/generate/text", generate_text, permission=text, methods=["POST"], reserves=True
        ),
    ]
