"""Reading the text out of OpenAI request bodies (for estimates and the demo provider)."""

from __future__ import annotations

from typing import Any

from serika.providers.base import Operation


def content_text(content: Any) -> str:
    """A message's content as text: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def prompt_text(operation: Operation, body: dict[str, Any]) -> str:
    """Everything the caller sent as text: the messages' contents, or the prompt."""
    if operation is Operation.CHAT:
        messages = body.get("messages") or []
        return "\n".join(content_text(m.get("content")) for m in messages if isinstance(m, dict))
    prompt = body.get("prompt", "")
    return prompt if isinstance(prompt, str) else "\n".join(map(str, prompt))


def estimate_tokens(text: str) -> int:
    """About four characters a token, as OpenAI's rule of thumb says."""
    return max(1, (len(text) + 3) // 4) if text else 0
