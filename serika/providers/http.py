"""The shared HTTP machinery of every remote provider: the client, timeouts, error mapping.

The client (``http_client.HttpClient``) was chosen by measurement: on these machines a bare
pass-through proxy built on aiohttp's client ran about ten times the throughput of one built
on httpx, and Serika's own client costs about a quarter of aiohttp's per call.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from serika.errors import SerikaError, UpstreamFailed, UpstreamRejected, UpstreamTimeout
from serika.providers.http_client import HttpClient, Response, UpstreamConnectionError
from serika.providers.sse import EventParser, EventTooLarge

_URL = re.compile(r"https?://\S+")
MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024
MAX_ERROR_BYTES = 1024 * 1024
_KNOWN_TYPES = {
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "not_found_error",
    "rate_limit_error",
}


class HttpUpstream:
    """POSTs JSON to one provider and maps every failure to a caller-safe error."""

    def __init__(
        self,
        name: str,
        client: HttpClient,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self._client = client
        self._secrets = tuple(s for s in secrets if s)

    def scrub(self, text: str) -> str:
        text = _URL.sub("[upstream]", text)
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text[:1000]

    async def post_json(
        self, url: str, body: Mapping[str, Any], headers: Mapping[str, str]
    ) -> dict[str, Any]:
        try:
            response = await self._client.request(
                "POST", url, orjson.dumps(body), _json_headers(headers)
            )
            if response.status >= 400:
                await self._raise_for(response)  # reads the answer, which ends it
            raw = await response.read()
        except SerikaError:
            raise
        except TimeoutError:
            raise self._timeout() from None
        except UpstreamConnectionError:
            raise self._unreachable() from None
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise UpstreamFailed(
                f"The provider '{self.name}' answered with invalid JSON."
            ) from None
        if not isinstance(value, dict):
            raise UpstreamFailed(f"The provider '{self.name}' answered with invalid JSON.")
        return value

    async def post_stream(
        self, url: str, body: Mapping[str, Any], headers: Mapping[str, str]
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """The answer's chunks as they arrive: one batch per read of the upstream, never empty.

        Reading whatever the socket holds and parsing every event in it at once costs one
        await per read instead of one per line; a chunk still goes out as soon as it arrives.
        """
        try:
            response = await self._client.request(
                "POST", url, orjson.dumps(body), _json_headers(headers)
            )
        except TimeoutError:
            raise self._timeout() from None
        except UpstreamConnectionError:
            raise self._unreachable() from None
        try:
            if response.status >= 400:
                await self._raise_for(response)
            parser = EventParser()
            try:
                async for piece in response.iter_any():
                    chunks, error = self._decode(response.status, parser.feed(piece))
                    if chunks:
                        yield chunks
                    if error is not None:
                        raise error
                    if parser.done:
                        return
                chunks, error = self._decode(response.status, parser.close())
                if chunks:
                    yield chunks
                if error is not None:
                    raise error
            except TimeoutError:
                raise self._timeout() from None
            except UpstreamConnectionError:
                raise UpstreamFailed(
                    f"The provider '{self.name}' dropped the connection mid-stream."
                ) from None
            except EventTooLarge:
                raise UpstreamFailed(
                    f"The provider '{self.name}' sent a stream event that never ended."
                ) from None
        finally:
            response.close()

    def _decode(
        self, status: int, payloads: list[bytes]
    ) -> tuple[list[dict[str, Any]], SerikaError | None]:
        """The chunks of ``payloads`` up to the first bad one, and the error it makes."""
        chunks: list[dict[str, Any]] = []
        for data in payloads:
            try:
                chunk = orjson.loads(data)
            except orjson.JSONDecodeError:
                return chunks, UpstreamFailed(
                    f"The provider '{self.name}' sent an unreadable stream event."
                )
            if isinstance(chunk, dict):
                if "error" in chunk:
                    return chunks, self._error_from(status, chunk, streaming=True)
                chunks.append(chunk)
        return chunks, None

    async def request_bytes(
        self,
        method: str,
        url: str,
        *,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        limit: int = MAX_DOWNLOAD_BYTES,
    ) -> tuple[bytes, str]:
        """The raw answer and its content type (images, zips), failures mapped as above."""
        send = dict(headers or {})
        data = None
        if body is not None:
            data = orjson.dumps(body)
            send.setdefault("Content-Type", "application/json")
        try:
            response = await self._client.request(method, url, data, send)
            try:
                if response.status >= 400:
                    await self._raise_for(response)
                if response.content_length is not None and response.content_length > limit:
                    raise self._too_large()
                raw = bytearray()
                async for piece in response.iter_any():
                    raw += piece
                    if len(raw) > limit:
                        raise self._too_large()
                return bytes(raw), response.headers.get("content-type", "")
            finally:
                response.close()
        except SerikaError:
            raise
        except TimeoutError:
            raise self._timeout() from None
        except UpstreamConnectionError:
            raise self._unreachable() from None

    async def get_json(self, url: str, headers: Mapping[str, str]) -> dict[str, Any]:
        raw, _ = await self.request_bytes(
            "GET", url, headers={"Accept": "application/json", **headers}
        )
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            raise UpstreamFailed(f"The provider '{self.name}' answered with invalid JSON.")
        return value

    def _too_large(self) -> UpstreamFailed:
        return UpstreamFailed(f"The provider '{self.name}' answered with too large a file.")

    def _timeout(self) -> UpstreamTimeout:
        return UpstreamTimeout(f"The provider '{self.name}' did not answer in time.")

    def _unreachable(self) -> UpstreamFailed:
        return UpstreamFailed(f"Could not reach the provider '{self.name}'.")

    async def _raise_for(self, response: Response) -> None:
        try:
            raw = await response.read(MAX_ERROR_BYTES)
            body = orjson.loads(raw) if raw else {}
        except (UpstreamConnectionError, orjson.JSONDecodeError):
            body = {}
        raise self._error_from(response.status, body)

    def _error_from(self, status: int, body: Any, streaming: bool = False) -> SerikaError:
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            # Some providers (NovelAI) answer {"statusCode": 400, "message": "..."}.
            top = body.get("message") if isinstance(body, dict) else None
            error = {"message": error if isinstance(error, str) else top or ""}
        message = self.scrub(str(error.get("message") or f"status {status}"))
        if streaming or status >= 500 or status < 400:
            return UpstreamFailed(f"The provider '{self.name}' failed (status {status}): {message}")
        kind = error.get("type") if error.get("type") in _KNOWN_TYPES else None
        if status in (401, 403):
            # The operator's upstream credentials are at fault, not the caller's key.
            return UpstreamFailed(
                f"The provider '{self.name}' refused Serika's credentials (status {status})."
            )
        code = error.get("code")
        param = error.get("param")
        return UpstreamRejected(
            status,
            f"The provider '{self.name}' refused the request: {message}",
            type_=str(kind or ("rate_limit_error" if status == 429 else "invalid_request_error")),
            code=str(code) if isinstance(code, (str, int)) else None,
            param=param if isinstance(param, str) else None,
        )


def _json_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {"Content-Type": "application/json", "Accept": "application/json", **headers}
