"""A fake OpenAI-compatible model provider, run as a real process by end-to-end tests.

Run it with ``python -m tests.fakes.upstream --host 127.0.0.1 --port P``; tests normally use
``tests.support.upstream.FakeUpstream``, which does that on a free port.

Endpoints
---------
* ``POST /v1/chat/completions`` and ``POST /v1/completions`` (OpenAI shapes, ``stream`` too);
* the same under Azure's layout:
  ``POST /openai/deployments/{deployment}/chat/completions?api-version=...`` (and ``/completions``);
* ``GET /v1/models``: a small model list;
* ``GET /_fake/requests``: every request received so far, in order (JSON list, see ``Record``);
* ``POST /_fake/reset``: forget them.

Any other path is recorded too and answered 404 with an OpenAI-shaped error.

Behaviour directives
--------------------
Tokens ``#name`` or ``#name=value`` anywhere in the last message's content (chat) or in the
prompt (completions) steer the answer:

* ``#chunks=N``: the reply is ``"word0 word1 ... word{N-1}"``, streamed as N content chunks
  (``"word0"``, ``" word1"``, ...). Without it the reply is ``"Echo: <content>"`` (content cut
  at ``ECHO_LIMIT`` characters), streamed in ``DEFAULT_CHUNKS`` nearly equal pieces.
* ``#delay=S``: sleep S seconds before the response headers (the first byte).
* ``#chunk_delay=S``: sleep S seconds before each streamed content chunk.
* ``#status=CODE``: answer that status with an OpenAI error body (after any ``#delay``).
* ``#drop=N``: in a stream, send the role chunk and N content chunks, then abort the
  connection (no finish chunk, no ``[DONE]``). Without ``stream`` the connection is aborted
  before any response.
* ``#nousage``: never report usage (no ``usage`` field, no usage chunk even when asked).
* ``#garbage``: answer 200 with a body that is not JSON; in a stream, SSE events whose data
  is not JSON (then ``[DONE]``).

Usage numbers are deterministic: ``prompt_tokens`` is the number of whitespace-separated words
in every message's text (or the prompt), ``completion_tokens`` the number of words in the reply.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import re
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

DEFAULT_CHUNKS: Final = 5
ECHO_LIMIT: Final = 1000
RAW_BODY_LIMIT: Final = 10_000
MODELS: Final = ("fake-chat", "fake-instruct", "fake-large")
GARBAGE_BODY: Final = "<html><body>502 Bad Gateway</body></html> this is not JSON {"

_DIRECTIVE = re.compile(r"#([a-z_]+)(?:=(\S+))?")
_FLAGS: Final = frozenset({"nousage", "garbage"})
_INTS: Final = frozenset({"chunks", "status", "drop"})
_FLOATS: Final = frozenset({"delay", "chunk_delay"})
_ERROR_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}

RECORDS: Final = web.AppKey("records", list[dict[str, Any]])
COUNTER: Final = web.AppKey("counter", Iterator[int])


class DirectiveError(ValueError):
    """A directive with a value that cannot be used."""


@dataclass(frozen=True, slots=True)
class Directives:
    chunks: int | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    status: int | None = None
    drop: int | None = None
    nousage: bool = False
    garbage: bool = False

    @classmethod
    def parse(cls, text: str) -> Directives:
        """Known directives found in ``text``; the last occurrence of each wins."""
        values: dict[str, Any] = {}
        for match in _DIRECTIVE.finditer(text):
            name, raw = match.group(1), match.group(2)
            if name in _FLAGS:
                values[name] = True
            elif name in _INTS or name in _FLOATS:
                if raw is None:
                    raise DirectiveError(f"directive #{name} needs a value")
                try:
                    number: float = int(raw) if name in _INTS else float(raw)
                except ValueError:
                    raise DirectiveError(f"directive #{name} has a bad value {raw!r}") from None
                if number < 0 or not math.isfinite(number):
                    raise DirectiveError(f"directive #{name} has a bad value {raw!r}")
                values[name] = number
        status = values.get("status")
        if status is not None and not 100 <= status <= 599:
            raise DirectiveError(f"directive #status has a bad value {status!r}")
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return {
            "chunks": self.chunks,
            "delay": self.delay,
            "chunk_delay": self.chunk_delay,
            "status": self.status,
            "drop": self.drop,
            "nousage": self.nousage,
            "garbage": self.garbage,
        }


@dataclass(slots=True)
class Reply:
    """What one completion request gets: its text, its stream pieces, its usage."""

    text: str
    pieces: list[str]
    prompt_tokens: int
    directives: Directives = field(default_factory=Directives)

    @property
    def usage(self) -> dict[str, int]:
        completion = len(self.text.split())
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
        }


def content_text(content: Any) -> str:
    """The text of a message's content: a string, or the ``text`` parts of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def prompt_text(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and all(isinstance(p, str) for p in prompt):
        return "\n".join(prompt)
    return ""


def split_evenly(text: str, count: int) -> list[str]:
    """``text`` cut into ``count`` nearly equal, non-empty pieces (fewer if it is shorter)."""
    count = min(count, len(text))
    if count <= 0:
        return []
    size, extra = divmod(len(text), count)
    pieces: list[str] = []
    start = 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        pieces.append(text[start:end])
        start = end
    return pieces


def make_reply(directive_text: str, echo_text: str, prompt_tokens: int) -> Reply:
    directives = Directives.parse(directive_text)
    if directives.chunks is not None:
        pieces = [f"word{i}" if i == 0 else f" word{i}" for i in range(directives.chunks)]
        text = "".join(pieces)
    else:
        text = "Echo: " + echo_text[:ECHO_LIMIT]
        pieces = split_evenly(text, DEFAULT_CHUNKS)
    return Reply(text=text, pieces=pieces, prompt_tokens=prompt_tokens, directives=directives)


def error_body(status: int, message: str | None = None, code: str = "fake_code") -> dict[str, Any]:
    if status in _ERROR_TYPES:
        kind = _ERROR_TYPES[status]
    elif status >= 500:
        kind = "api_error"
    else:
        kind = "invalid_request_error"
    if message is None:
        message = (
            f"fake upstream error {status} (upstream-secret-detail https://fake-upstream.internal)"
        )
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def error_response(
    status: int, message: str | None = None, code: str = "fake_code"
) -> web.Response:
    return web.json_response(error_body(status, message, code), status=status)


def connection_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def abort_connection(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


def sse(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {data}\n\n".encode()


# -- recording ------------------------------------------------------------------------------


async def new_record(request: web.Request) -> dict[str, Any]:
    """Record ``request`` as it arrives; the handler fills in the outcome as it goes."""
    raw = await request.read()
    body: Any = None
    body_error: str | None = None
    if raw:
        try:
            body = json.loads(raw)
        except ValueError as exc:
            body_error = str(exc)
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    ids: Iterator[int] = request.app[COUNTER]
    record: dict[str, Any] = {
        "id": next(ids),
        "method": request.method,
        "path": request.path,
        "query_string": request.query_string,
        "query": dict(request.query),
        "headers": headers,
        "body": body,
        "raw_body": raw[:RAW_BODY_LIMIT].decode("utf-8", errors="replace") if body_error else None,
        "deployment": request.match_info.get("deployment"),
        "api_version": request.query.get("api-version"),
        "api_key": request.headers.get("api-key"),
        "authorization": request.headers.get("authorization"),
        "stream": isinstance(body, dict) and body.get("stream") is True,
        "directives": None,
        "status": None,
        "chunks_sent": 0,
        "completed": False,
        "dropped": False,
        "disconnected": False,
        "error": None,
        "received_at": time.time(),
        "received_monotonic": time.monotonic(),
        "finished_at": None,
        "finished_monotonic": None,
    }
    request.app[RECORDS].append(record)
    return record


def finish(record: dict[str, Any]) -> None:
    record["finished_at"] = time.time()
    record["finished_monotonic"] = time.monotonic()


Handler = Callable[[web.Request, dict[str, Any]], Awaitable[web.StreamResponse]]


def recorded(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def wrapper(request: web.Request) -> web.StreamResponse:
        record = await new_record(request)
        try:
            response = await handler(request, record)
            if record["status"] is None and not (record["dropped"] or record["disconnected"]):
                record["status"] = response.status
            return response
        except (ConnectionResetError, asyncio.CancelledError):
            record["disconnected"] = True
            raise
        except Exception as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            finish(record)

    return wrapper


# -- completions ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Kind:
    """What differs between chat completions and text completions."""

    chat: bool

    @property
    def object_name(self) -> str:
        return "chat.completion" if self.chat else "text_completion"

    @property
    def chunk_object(self) -> str:
        return "chat.completion.chunk" if self.chat else "text_completion"

    @property
    def id_prefix(self) -> str:
        return "chatcmpl-fake-" if self.chat else "cmpl-fake-"

    def reply_for(self, body: dict[str, Any]) -> Reply:
        if self.chat:
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                raise DirectiveError("'messages' must be a non-empty list")
            texts = [content_text(m.get("content")) for m in messages if isinstance(m, dict)]
            last = texts[-1] if texts else ""
            return make_reply(last, last, sum(len(t.split()) for t in texts))
        if "prompt" not in body:
            raise DirectiveError("'prompt' is required")
        prompt = prompt_text(body.get("prompt"))
        return make_reply(prompt, prompt, len(prompt.split()))

    def choice(self, text: str) -> dict[str, Any]:
        if self.chat:
            return {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        return {"index": 0, "text": text, "logprobs": None, "finish_reason": "stop"}

    def chunk_choice(self, piece: str | None, *, role: bool = False) -> dict[str, Any]:
        """A stream choice: a content piece, the role opening (chat), or the end (``None``)."""
        finish_reason = "stop" if piece is None and not role else None
        if self.chat:
            delta: dict[str, Any] = {}
            if role:
                delta = {"role": "assistant", "content": ""}
            elif piece is not None:
                delta = {"content": piece}
            return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {"index": 0, "text": piece or "", "logprobs": None, "finish_reason": finish_reason}


CHAT: Final = Kind(chat=True)
TEXT: Final = Kind(chat=False)


def completion_handler(kind: Kind) -> Handler:
    async def handle(request: web.Request, record: dict[str, Any]) -> web.StreamResponse:
        body = record["body"]
        if not isinstance(body, dict):
            return error_response(400, "fake upstream: the body is not a JSON object", "bad_json")
        try:
            reply = kind.reply_for(body)
        except DirectiveError as exc:
            return error_response(400, f"fake upstream: {exc}", "bad_request")
        directives = reply.directives
        record["directives"] = directives.as_dict()
        if directives.delay:
            await asyncio.sleep(directives.delay)
        if connection_gone(request):
            record["disconnected"] = True
            return web.Response(status=499)
        if directives.status is not None:
            return error_response(directives.status)
        model = record["deployment"] or body.get("model") or MODELS[0]
        ident = f"{kind.id_prefix}{record['id']}"
        if record["stream"]:
            return await stream(request, record, kind, reply, ident, str(model))
        if directives.drop is not None:
            record["dropped"] = True
            abort_connection(request)
            return web.Response(status=499)
        if directives.garbage:
            record["completed"] = True
            return web.Response(text=GARBAGE_BODY, content_type="application/json")
        answer: dict[str, Any] = {
            "id": ident,
            "object": kind.object_name,
            "created": int(time.time()),
            "model": model,
            "choices": [kind.choice(reply.text)],
            "system_fingerprint": "fp_fake",
        }
        if not directives.nousage:
            answer["usage"] = reply.usage
        record["completed"] = True
        return web.json_response(answer)

    return handle


async def stream(
    request: web.Request,
    record: dict[str, Any],
    kind: Kind,
    reply: Reply,
    ident: str,
    model: str,
) -> web.StreamResponse:
    directives = reply.directives
    options = record["body"].get("stream_options")
    include_usage = (
        isinstance(options, dict)
        and options.get("include_usage") is True
        and not directives.nousage
    )
    created = int(time.time())

    def chunk(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> bytes:
        payload: dict[str, Any] = {
            "id": ident,
            "object": kind.chunk_object,
            "created": created,
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": choices,
        }
        if include_usage:  # as OpenAI does: null on every chunk but the last
            payload["usage"] = usage
        return sse(payload)

    response = web.StreamResponse(
        status=200,
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"},
    )
    record["status"] = 200

    async def send(data: bytes) -> bool:
        """Write one event; False (and recorded) when the client has gone."""
        if connection_gone(request):
            record["disconnected"] = True
            return False
        try:
            await response.write(data)
        except ConnectionError:
            record["disconnected"] = True
            return False
        return True

    await response.prepare(request)
    if directives.garbage:
        for data in (b"data: {not json at all\n\n", b"data: <html>oops</html>\n\n"):
            if not await send(data):
                return response
        if await send(sse("[DONE]")):
            record["completed"] = True
        return response
    if kind.chat and not await send(chunk([kind.chunk_choice(None, role=True)])):
        return response
    for index, piece in enumerate(reply.pieces):
        if directives.drop is not None and index >= directives.drop:
            break
        if directives.chunk_delay:
            await asyncio.sleep(directives.chunk_delay)
        if not await send(chunk([kind.chunk_choice(piece)])):
            return response
        record["chunks_sent"] += 1
    if directives.drop is not None:
        record["dropped"] = True
        # Let the chunks sent so far reach the client before the connection dies, as they do
        # from a provider that fails mid-answer (a reset racing its own data loses the data).
        await asyncio.sleep(0.1)
        abort_connection(request)
        return response
    if not await send(chunk([kind.chunk_choice(None)])):
        return response
    if include_usage and not await send(chunk([], reply.usage)):
        return response
    if await send(sse("[DONE]")):
        record["completed"] = True
        try:
            await response.write_eof()
        except ConnectionError:
            record["disconnected"] = True
    return response


# -- the rest -------------------------------------------------------------------------------


async def list_models(request: web.Request, record: dict[str, Any]) -> web.StreamResponse:
    data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake-upstream"} for m in MODELS]
    record["completed"] = True
    return web.json_response({"object": "list", "data": data})


async def not_found(request: web.Request, record: dict[str, Any]) -> web.StreamResponse:
    return error_response(404, f"fake upstream: no route for {request.method} {request.path}")


async def fake_requests(request: web.Request) -> web.StreamResponse:
    return web.json_response(request.app[RECORDS])


async def fake_reset(request: web.Request) -> web.StreamResponse:
    request.app[RECORDS].clear()
    return web.json_response({"ok": True})


def create_app() -> web.Application:
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[RECORDS] = []
    app[COUNTER] = itertools.count(1)
    chat = recorded(completion_handler(CHAT))
    text = recorded(completion_handler(TEXT))
    app.router.add_get("/_fake/requests", fake_requests)
    app.router.add_post("/_fake/reset", fake_reset)
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/v1/completions", text)
    app.router.add_post("/openai/deployments/{deployment}/chat/completions", chat)
    app.router.add_post("/openai/deployments/{deployment}/completions", text)
    app.router.add_get("/v1/models", recorded(list_models))
    app.router.add_route("*", "/{tail:.*}", recorded(not_found))
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    print(f"fake upstream listening on http://{args.host}:{args.port}", flush=True)
    web.run_app(
        create_app(),
        host=args.host,
        port=args.port,
        access_log=None,
        print=None,
        shutdown_timeout=1.0,
        handle_signals=True,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
