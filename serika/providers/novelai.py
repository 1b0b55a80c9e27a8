"""NovelAI's image API: ``POST {base}/ai/generate-image``, answered with a zip of PNGs.

The request is NovelAI's own: ``input`` (the prompt), ``model``, ``action: "generate"`` and
``parameters`` (``width``, ``height``, ``scale``, ``sampler``, ``steps``, ``seed``,
``n_samples``, ``negative_prompt``). V4 models (``nai-diffusion-4*``) also take the prompt
and negative prompt as ``v4_prompt`` / ``v4_negative_prompt`` captions. The prompt is sent
as given: no quality tags or undesired-content preset are added (``qualityToggle`` off,
``ucPreset`` 3, "none").
"""

from __future__ import annotations

import io
import zipfile
import zlib
from typing import Any

from serika.errors import UpstreamFailed
from serika.providers.http import MAX_DOWNLOAD_BYTES, HttpUpstream
from serika.providers.images import GeneratedImage, ImageCall, read_image, sniff_type

UC_PRESET_NONE = 3


def request_body(call: ImageCall) -> dict[str, Any]:
    parameters: dict[str, Any] = {
        "width": call.width,
        "height": call.height,
        "scale": call.scale,
        "sampler": call.sampler,
        "steps": call.steps,
        "seed": call.seed,
        "n_samples": call.n,
        "negative_prompt": call.negative_prompt,
        "ucPreset": UC_PRESET_NONE,
        "qualityToggle": False,
    }
    if call.upstream_model.startswith("nai-diffusion-4"):
        parameters.update(
            params_version=3,
            noise_schedule="karras",
            use_coords=False,
            characterPrompts=[],
            v4_prompt={
                "caption": {"base_caption": call.prompt, "char_captions": []},
                "use_coords": False,
                "use_order": True,
            },
            v4_negative_prompt={
                "caption": {"base_caption": call.negative_prompt, "char_captions": []},
                "legacy_uc": False,
            },
        )
    return {
        "input": call.prompt,
        "model": call.upstream_model,
        "action": "generate",
        "parameters": parameters,
    }


class NovelAIProvider:
    def __init__(self, http: HttpUpstream, base_url: str, api_key: str) -> None:
        self.name = http.name
        self._http = http
        self._url = base_url.rstrip("/") + "/ai/generate-image"
        self._headers = {"Authorization": f"Bearer {api_key}"}

    async def generate_images(self, call: ImageCall) -> list[GeneratedImage]:
        raw, _ = await self._http.request_bytes(
            "POST", self._url, body=request_body(call), headers=self._headers
        )
        files = self._unzip(raw) if raw.startswith(b"PK") else [raw]
        return [
            read_image(data, self.name, (call.seed + n) % 2**32) for n, data in enumerate(files)
        ]

    def _unzip(self, raw: bytes) -> list[bytes]:
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                members = sorted(
                    (i for i in archive.infolist() if not i.is_dir()), key=lambda i: i.filename
                )
                if sum(i.file_size for i in members) > MAX_DOWNLOAD_BYTES:
                    raise UpstreamFailed(f"The provider '{self.name}' answered too large a zip.")
                files = [archive.read(i) for i in members]
        except (zipfile.BadZipFile, zlib.error, OSError, ValueError):
            raise UpstreamFailed(
                f"The provider '{self.name}' answered with a broken zip."
            ) from None
        images = [f for f in files if sniff_type(f) is not None]
        if not images:
            raise UpstreamFailed(f"The provider '{self.name}' answered a zip without images.")
        return images

    async def close(self) -> None:
        return None
