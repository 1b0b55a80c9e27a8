"""The text path: validate, route (Serika id -> provider + upstream id), call, meter, answer.

Answers keep the caller's model id. Streams are forwarded chunk by chunk as they arrive;
usage is asked of the provider on every stream (``include_usage``) and only passed on to the
caller when the caller asked for it. When a provider reports no usage, tokens are estimated
from characters and the record is marked estimated.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson

from serika.catalog.catalog import Catalog, Model
from serika.characters.persona import with_persona
from serika.characters.service import CharacterService
from serika.errors import InvalidRequest, SerikaError, UpstreamFailed
from serika.gateway import validate
from serika.limits.limiter import Admission, Limiter, premium_refusal
from serika.providers.base import Operation, UpstreamCall
from serika.providers.messages import content_text, estimate_tokens, prompt_text
from serika.providers.registry import Providers
from serika.usage.meter import Meter
from serika.usage.model import UsageTicket

SERIKA_FIELDS = ("character_id",)
CLIENT_CLOSED = 499


@dataclass(frozen=True, slots=True)
class Stream:
    """An answer to send as Server-Sent Events."""

    events: AsyncIterator[bytes]


def sse(payload: Any) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


SSE_DONE = b"data: [DONE]\n\n"


def _chunk_text(operation: Operation, chunk: dict[str, Any]) -> str:
    parts = []
    for choice in chunk.get("choices") or []:
        if not isinstance(choice, dict):
            continue
        if operation is Operation.CHAT:
            delta = choice.get("delta")
            if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                parts.append(delta["content"])
        elif isinstance(choice.get("text"), str):
            parts.append(choice["text"])
    return "".join(parts)


def _answer_text(operation: Operation, answer: dict[str, Any]) -> str:
    parts = []
    for choice in answer.get("choices") or []:
        if not isinstance(choice, dict):
            continue
        if operation is Operation.CHAT:
            message = choice.get("message")
            if isinstance(message, dict):
                parts.append(content_text(message.get("content")))
        else:
            parts.append(str(choice.get("text") or ""))
    return "".join(parts)


def _usage_numbers(usage: Any) -> tuple[int, int] | None:
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if isinstance(prompt, int) and isinstance(completion, int):
        return prompt, completion
    return None


class TextGateway:
    def __init__(
        self,
        catalog: Catalog,
        providers: Providers,
        meter: Meter,
        characters: CharacterService,
        limiter: Limiter,
    ) -> None:
        self._limiter = limiter
        self._catalog = catalog
        self._providers = providers
        self._meter = meter
        self._characters = characters

    def resolve(self, requested: str) -> Model:
        model = self._catalog.for_call(requested)
        if model.type != "text":
            raise InvalidRequest(
                f"'{requested}' is an image model; use the images endpoints", param="model"
            )
        return model

    def default_model(self) -> str:
        model = self._catalog.default_text_model()
        if model is None:
            raise InvalidRequest("no text model is available on this server", param="model")
        return model.id

    async def call(
        self, operation: Operation, body: dict[str, Any], ticket: UsageTicket
    ) -> dict[str, Any] | Stream:
        """Validate and send ``body`` (an OpenAI request) for ``operation``."""
        requested = validate.model_id(body)
        ticket.model = requested
        if operation is Operation.CHAT:
            messages = validate.messages(body)
        else:
            validate.prompt(body)
        streaming = validate.stream_flag(body)
        validate.sampling(body)
        model = self.resolve(requested)
        if model.tier == "premium" and ticket.tier != "premium":
            raise premium_refusal(requested)
        provider = self._providers.get(model.provider)
        upstream_body = {k: v for k, v in body.items() if k not in SERIKA_FIELDS}
        character_id = body.get("character_id")
        if character_id is not None:
            if operation is not Operation.CHAT:
                raise InvalidRequest(
                    "character_id works with /chat/completions and /generate/text",
                    param="character_id",
                )
            character = await self._characters.visible(ticket.user_id, character_id)
            upstream_body["messages"] = with_persona(character, messages)
        caller_wants_usage = False
        if streaming:
            options = dict(body.get("stream_options") or {})
            caller_wants_usage = bool(options.get("include_usage"))
            upstream_body["stream_options"] = {**options, "include_usage": True}
        ticket.admission = await self._admit(ticket, model, operation, upstream_body)
        call = UpstreamCall(operation, model.upstream_model, upstream_body)
        if not streaming:
            answer = await provider.complete(call)
            answer["model"] = requested
            ticket.measure = partial(
                self._settle, ticket, model, operation, body, answer.get("usage"), answer
            )
            return answer
        chunks = provider.stream(call)
        try:
            first = await anext(chunks)
        except StopAsyncIteration:
            raise UpstreamFailed(f"The provider '{model.provider}' sent an empty stream.") from None
        ticket.deferred = True
        return Stream(
            self._relay(
                first, chunks, requested, model, operation, body, ticket, caller_wants_usage
            )
        )

    def _admit(
        self, ticket: UsageTicket, model: Model, operation: Operation, body: dict[str, Any]
    ) -> Coroutine[Any, Any, Admission]:
        """Reserve the call's estimated tokens and cost against every limit, in one go. (A
        plain function handing back the limiter's coroutine: one frame fewer for every
        suspension and resumption while the counters answer.)"""
        prompt = estimate_tokens(prompt_text(operation, body))
        wanted = body.get("max_tokens") or body.get("max_completion_tokens")
        completion = (
            wanted if isinstance(wanted, int) else self._limiter.completion_estimate(ticket.tier)
        )
        return self._limiter.admit(
            ticket.caller(),
            tokens=prompt + completion,
            cost=model.cost_micro_usd(prompt, completion, 0),
            metered=True,
        )

    async def _relay(
        self,
        first: list[dict[str, Any]],
        chunks: AsyncIterator[list[dict[str, Any]]],
        requested: str,
        model: Model,
        operation: Operation,
        body: dict[str, Any],
        ticket: UsageTicket,
        caller_wants_usage: bool,
    ) -> AsyncIterator[bytes]:
        usage: Any = None
        text: list[str] = []
        try:
            # The chunks that arrived together go out together, in one write.
            batch: list[dict[str, Any]] | None = first
            while batch is not None:
                out = []
                for chunk in batch:
                    if chunk.get("usage"):
                        usage = chunk["usage"]
                    text.append(_chunk_text(operation, chunk))
                    chunk["model"] = requested
                    if not caller_wants_usage:
                        chunk.pop("usage", None)
                    if caller_wants_usage or chunk.get("choices"):
                        out.append(sse(chunk))
                if out:
                    yield b"".join(out)
                batch = await anext(chunks, None)
            yield SSE_DONE
        except SerikaError as error:
            ticket.status = error.status
            yield sse(error.body())
        except BaseException:
            ticket.status = CLIENT_CLOSED
            raise
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]
            self._settle(ticket, model, operation, body, usage, text)
            self._meter.close(ticket)

    def _settle(
        self,
        ticket: UsageTicket,
        model: Model,
        operation: Operation,
        body: dict[str, Any],
        usage: Any,
        answered: dict[str, Any] | list[str],
    ) -> None:
        """Set the call's tokens and cost: the provider's ``usage``, or (only when it gave
        none) estimates from the prompt and what was ``answered`` (the answer, or the text of
        a stream's chunks)."""
        numbers = _usage_numbers(usage)
        if numbers is not None:
            ticket.set_tokens(*numbers)
        else:
            text = (
                "".join(answered)
                if isinstance(answered, list)
                else _answer_text(operation, answered)
            )
            ticket.set_tokens(
                estimate_tokens(prompt_text(operation, body)),
                estimate_tokens(text),
                estimated=True,
            )
        ticket.cost_micro_usd = model.cost_micro_usd(
            ticket.prompt_tokens, ticket.completion_tokens, 0
        )


def completion_from_chat(answer: dict[str, Any]) -> dict[str, Any]:
    """A chat answer reshaped as the ``text_completion`` that ``/generate/text`` returns."""
    choices = []
    for n, choice in enumerate(answer.get("choices") or []):
        message = choice.get("message") if isinstance(choice, dict) else None
        text = content_text(message.get("content")) if isinstance(message, dict) else ""
        choices.append(
            {
                "index": n,
                "text": text,
                "finish_reason": choice.get("finish_reason"),
                "logprobs": None,
            }
        )
    return {
        "id": str(answer.get("id", "")).replace("chatcmpl", "cmpl", 1),
        "object": "text_completion",
        "created": answer.get("created", int(time.time())),
        "model": answer.get("model"),
        "choices": choices,
        "usage": answer.get("usage"),
    }
