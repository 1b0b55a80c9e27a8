"""Any OpenAI-compatible server: OpenRouter, OpenAI, Ollama, vLLM, llama.cpp, LocalAI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from serika.providers.base import UpstreamCall
from serika.providers.http import HttpUpstream


class OpenAICompatibleProvider:
    def __init__(
        self,
        http: HttpUpstream,
        base_url: str,
        api_key: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.name = http.name
        self._http = http
        self._base = base_url.rstrip("/")
        self._headers = dict(headers or {})
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"

    def _body(self, call: UpstreamCall) -> dict[str, Any]:
        return {**call.body, "model": call.upstream_model}

    async def complete(self, call: UpstreamCall) -> dict[str, Any]:
        url = self._base + call.operation.path
        return await self._http.post_json(url, self._body(call), self._headers)

    def stream(self, call: UpstreamCall) -> AsyncIterator[list[dict[str, Any]]]:
        url = self._base + call.operation.path
        return self._http.post_stream(url, self._body(call), self._headers)

    async def close(self) -> None:
        return None
