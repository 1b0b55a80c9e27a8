"""The built-in offline provider: varied text made from the conversation, no network at all.

It is not a language model. It picks words from what it was told, seeded by the
conversation, and arranges them in sentences from a handful of patterns, so the same input
gives the same answer and different inputs give different ones. It streams word by word and
reports usage like a real provider.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

from serika.providers.base import Operation, UpstreamCall
from serika.providers.messages import estimate_tokens, prompt_text

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]{2,}")
_STOP = {
    "hello",
    "there",
    "here",
    "hey",
    "thanks",
    "thank",
    "the",
    "and",
    "you",
    "your",
    "are",
    "for",
    "with",
    "that",
    "this",
    "have",
    "what",
    "can",
    "how",
    "about",
    "please",
    "tell",
    "from",
    "was",
    "were",
    "will",
    "would",
    "could",
    "should",
}
_OPENERS = [
    "Here is a thought about {a}.",
    "You mentioned {a}, so let us start there.",
    "Thinking of {a} and {b} together is a good idea.",
    "Good question about {a}.",
    "Let me say something about {a}.",
]
_MIDDLES = [
    "When {a} meets {b}, the details start to matter.",
    "Most people picture {a} first and {b} second.",
    "A small step with {a} often says more than a long plan.",
    "It helps to ask what {b} needs before changing {a}.",
    "There is a quiet link between {a} and {c}.",
    "Try looking at {c} from the side of {b}.",
]
_CLOSERS = [
    "That is the short version; ask again for more about {b}.",
    "I hope this sheds some light on {a}.",
    "This answer comes from Serika's offline demo model, so take it lightly.",
    "Shall we go further with {c}?",
]
_FALLBACK = ["words", "ideas", "questions", "stories", "patterns", "answers"]


def compose(text: str, max_words: int) -> list[str]:
    """The answer's words for a conversation whose text is ``text``."""
    seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")
    rng = random.Random(seed)  # noqa: S311 (varied text, not security)
    found = [w.lower() for w in _WORD.findall(text) if w.lower() not in _STOP]
    pool = list(dict.fromkeys(found[-40:])) or _FALLBACK

    def fill(pattern: str) -> str:
        return pattern.format(a=rng.choice(pool), b=rng.choice(pool), c=rng.choice(pool))

    sentences = [fill(rng.choice(_OPENERS))]
    sentences += [fill(p) for p in rng.sample(_MIDDLES, k=rng.randint(1, 3))]
    sentences.append(fill(rng.choice(_CLOSERS)))
    words = " ".join(sentences).split()
    return words[:max_words] if max_words > 0 else words


class DemoProvider:
    name = "demo"

    def __init__(self, word_delay: float) -> None:
        self._delay = word_delay

    def _plan(self, call: UpstreamCall) -> tuple[list[str], int, str]:
        text = prompt_text(call.operation, call.body)
        limit = call.body.get("max_tokens") or call.body.get("max_completion_tokens") or 0
        words = compose(text, int(limit) if isinstance(limit, int) else 0)
        finish = "length" if isinstance(limit, int) and 0 < limit <= len(words) else "stop"
        return words, estimate_tokens(text), finish

    async def complete(self, call: UpstreamCall) -> dict[str, Any]:
        words, prompt_tokens, finish = self._plan(call)
        text = " ".join(words)
        usage = _usage(prompt_tokens, len(words))
        ident = _ident(call)
        if call.operation is Operation.COMPLETION:
            return {
                "id": ident,
                "object": "text_completion",
                "created": int(time.time()),
                "model": call.upstream_model,
                "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}],
                "usage": usage,
            }
        return {
            "id": ident,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": call.upstream_model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish,
                    "logprobs": None,
                }
            ],
            "usage": usage,
        }

    async def stream(self, call: UpstreamCall) -> AsyncIterator[list[dict[str, Any]]]:
        words, prompt_tokens, finish = self._plan(call)
        ident, created = _ident(call), int(time.time())
        chat = call.operation is Operation.CHAT
        kind = "chat.completion.chunk" if chat else "text_completion"

        def chunk(
            piece: str | None, reason: str | None = None, first: bool = False
        ) -> dict[str, Any]:
            if chat:
                delta: dict[str, Any] = {}
                if first:
                    delta["role"] = "assistant"
                if piece is not None:
                    delta["content"] = piece
                choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": reason}
            else:
                choice = {"index": 0, "text": piece or "", "finish_reason": reason}
            return {
                "id": ident,
                "object": kind,
                "created": created,
                "model": call.upstream_model,
                "choices": [choice],
            }

        # One chunk per batch: the demo streams word by word, as a model would.
        if chat:
            yield [chunk("", first=True)]
        for n, word in enumerate(words):
            if self._delay:
                await asyncio.sleep(self._delay)
            yield [chunk(word if n == 0 else " " + word)]
        yield [chunk(None, finish)]
        options = call.body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            yield [
                {
                    "id": ident,
                    "object": kind,
                    "created": created,
                    "model": call.upstream_model,
                    "choices": [],
                    "usage": _usage(prompt_tokens, len(words)),
                }
            ]

    async def close(self) -> None:
        return None


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _ident(call: UpstreamCall) -> str:
    prefix = "chatcmpl" if call.operation is Operation.CHAT else "cmpl"
    return f"{prefix}-demo{secrets.token_hex(8)}"
