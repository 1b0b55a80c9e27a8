"""The image side of the provider interface: one call in, finished image files out."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Protocol

from PIL import Image, UnidentifiedImageError

from serika.errors import UpstreamFailed

_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}


@dataclass(frozen=True, slots=True)
class ImageCall:
    """What a provider is asked to draw (already validated, defaults filled in)."""

    upstream_model: str
    prompt: str
    width: int
    height: int
    n: int
    steps: int
    scale: float
    sampler: str
    seed: int
    negative_prompt: str = ""
    quality: str = ""


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    data: bytes
    content_type: str
    width: int
    height: int
    seed: int | None  # None when the provider does not take a seed (OpenAI)


class ImageProvider(Protocol):
    name: str

    async def generate_images(self, call: ImageCall) -> list[GeneratedImage]:
        """``call.n`` finished images, or a ``SerikaError``."""

    async def close(self) -> None: ...


def sniff_type(data: bytes) -> str | None:
    """The image type of ``data`` from its first bytes, or None when it is no image we serve."""
    for signature, content_type in _SIGNATURES:
        if data.startswith(signature):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def read_image(data: bytes, provider: str, seed: int | None) -> GeneratedImage:
    """Check that ``data`` is an image and read its size (only the header is decoded)."""
    content_type = sniff_type(data)
    if content_type is None:
        raise UpstreamFailed(f"The provider '{provider}' answered with something not an image.")
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError):
        raise UpstreamFailed(f"The provider '{provider}' answered with a broken image.") from None
    return GeneratedImage(data, content_type, width, height, seed)
