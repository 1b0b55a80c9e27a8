"""OpenAI's images API, and any server that speaks it: ``POST {base}/images/generations``.

``gpt-image-1`` always answers base64 and refuses ``response_format``; other models (DALL·E,
LocalAI, …) are asked for ``b64_json`` and, should they answer URLs anyway, the files are
fetched from there. The model's quality (``gpt-image-1-low`` -> ``low``) is sent as
``quality``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from serika.errors import UpstreamFailed
from serika.providers.http import HttpUpstream
from serika.providers.images import GeneratedImage, ImageCall, read_image


class OpenAIImagesProvider:
    def __init__(
        self,
        http: HttpUpstream,
        base_url: str,
        api_key: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.name = http.name
        self._http = http
        self._url = base_url.rstrip("/") + "/images/generations"
        self._headers = dict(headers or {})
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"

    def _body(self, call: ImageCall) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": call.upstream_model,
            "prompt": call.prompt,
            "n": call.n,
            "size": f"{call.width}x{call.height}",
        }
        if call.quality:
            body["quality"] = call.quality
        if not call.upstream_model.startswith("gpt-image"):
            body["response_format"] = "b64_json"
        return body

    async def generate_images(self, call: ImageCall) -> list[GeneratedImage]:
        answer = await self._http.post_json(self._url, self._body(call), self._headers)
        items = answer.get("data")
        if not isinstance(items, list) or not items:
            raise UpstreamFailed(f"The provider '{self.name}' answered with no image.")
        return [read_image(await self._bytes(item), self.name, None) for item in items]

    async def _bytes(self, item: Any) -> bytes:
        if isinstance(item, dict) and isinstance(item.get("b64_json"), str):
            try:
                return base64.b64decode(item["b64_json"], validate=True)
            except (binascii.Error, ValueError):
                raise UpstreamFailed(
                    f"The provider '{self.name}' answered with unreadable base64."
                ) from None
        if isinstance(item, dict) and isinstance(item.get("url"), str):
            data, _ = await self._http.request_bytes("GET", item["url"])
            return data
        raise UpstreamFailed(f"The provider '{self.name}' answered with an image we cannot read.")

    async def close(self) -> None:
        return None
