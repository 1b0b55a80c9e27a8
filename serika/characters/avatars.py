"""Character avatars: uploads decoded and checked with Pillow, re-encoded, kept as blobs.

An upload must decode as PNG, JPEG, WebP or GIF, be at most ``MAX_BYTES`` and declare at most
``MAX_PIXELS`` (checked from the header before any pixel is decoded, so a decompression bomb is
refused without being expanded). What is stored is a fresh PNG of at most 512x512: no
metadata, no second frame, nothing of the original file but its picture.
"""

from __future__ import annotations

import io
import re
import warnings

from PIL import Image, UnidentifiedImageError

from serika.errors import InvalidRequest, RequestTooLarge
from serika.ids import random_base62
from serika.storage.blobs import BlobStore

MAX_BYTES = 2 * 1024 * 1024
MAX_PIXELS = 4096 * 4096
SIDE = 512
FORMATS = {"PNG", "JPEG", "WEBP", "GIF"}
CDN_PREFIX = "/api/cdn/avatars/"
_FILE_NAME = re.compile(r"av_[0-9A-Za-z]{32}\.png")


def _bad(message: str) -> InvalidRequest:
    return InvalidRequest(message, param="avatar", code="invalid_image")


def normalise(data: bytes) -> bytes:
    """The PNG to store for an uploaded image, or a clear 400/413."""
    if not data:
        raise _bad("the avatar is empty; send the image file as the request body")
    if len(data) > MAX_BYTES:
        raise RequestTooLarge(f"an avatar may be at most {MAX_BYTES // (1024 * 1024)} MiB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                if probe.format not in FORMATS:
                    raise _bad("the avatar must be a PNG, JPEG, WebP or GIF image")
                width, height = probe.size
                if width < 1 or height < 1 or width * height > MAX_PIXELS:
                    raise _bad(f"the avatar may have at most {MAX_PIXELS} pixels")
                probe.seek(0)
                probe.load()
                picture = probe.convert("RGBA")
    except InvalidRequest:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
        EOFError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ):
        raise _bad("the avatar is not an image this server can read") from None
    picture.thumbnail((SIDE, SIDE))
    out = io.BytesIO()
    picture.save(out, format="PNG", optimize=True)
    return out.getvalue()


def new_file_name() -> str:
    return f"av_{random_base62(32)}.png"


def blob_key(file_name: str) -> str:
    return "avatars/" + file_name


def is_file_name(value: str) -> bool:
    return _FILE_NAME.fullmatch(value) is not None


async def store(blobs: BlobStore, data: bytes) -> str:
    """Normalise and store an upload; returns its file name."""
    png = normalise(data)
    name = new_file_name()
    await blobs.put(blob_key(name), png, "image/png")
    return name
