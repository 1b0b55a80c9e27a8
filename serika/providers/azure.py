"""Azure OpenAI: one deployment per model, the ``api-key`` header, an ``api-version``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from serika.providers.base import UpstreamCall
from serika.providers.http import HttpUpstream


class AzureProvider:
    def __init__(self, http: HttpUpstream, endpoint: str, api_key: str, api_version: str) -> None:
        self.name = http.name
        self._http = http
        self._endpoint = endpoint.rstrip("/")
        self._headers = {"api-key": api_key}
        self._version = api_version

    def _url(self, call: UpstreamCall) -> str:
        deployment = quote(call.upstream_model, safe="")
        return (
            f"{self._endpoint}/openai/deployments/{deployment}{call.operation.path}"
            f"?api-version={quote(self._version, safe='')}"
        )

    def _body(self, call: UpstreamCall) -> dict[str, Any]:
        body = dict(call.body)
        body.pop("model", None)  # the deployment in the URL names the model
        return body

    async def complete(self, call: UpstreamCall) -> dict[str, Any]:
        return await self._http.post_json(self._url(call), self._body(call), self._headers)

    def stream(self, call: UpstreamCall) -> AsyncIterator[list[dict[str, Any]]]:
        return self._http.post_stream(self._url(call), self._body(call), self._headers)

    async def close(self) -> None:
        return None
