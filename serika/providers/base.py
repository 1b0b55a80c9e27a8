"""The one provider interface every upstream kind implements."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol


class Operation(StrEnum):
    CHAT = "chat"
    COMPLETION = "completion"

    @property
    def path(self) -> str:
        return "/chat/completions" if self is Operation.CHAT else "/completions"


@dataclass(frozen=True, slots=True)
class UpstreamCall:
    """One request for a provider: the OpenAI body, already carrying the upstream model id."""

    operation: Operation
    upstream_model: str
    body: dict[str, Any]


class Provider(Protocol):
    name: str

    async def complete(self, call: UpstreamCall) -> dict[str, Any]:
        """The provider's whole answer (an OpenAI object), or a ``SerikaError``."""

    def stream(self, call: UpstreamCall) -> AsyncIterator[list[dict[str, Any]]]:
        """The answer's chunks as they arrive, in batches: each batch holds the chunks that
        arrived together (one read of the upstream), and is never empty. Errors before the
        first chunk raise."""

    async def close(self) -> None: ...
