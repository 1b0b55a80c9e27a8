"""Reading provider answers as images, and the CDN's file names."""

from __future__ import annotations

import struct
import zlib

import pytest

from serika.errors import UpstreamFailed
from serika.images.files import new_image_id, parse_file_name
from serika.providers.demo_image import draw
from serika.providers.images import read_image, sniff_type


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_read_image_checks_what_providers_send() -> None:
    image = read_image(draw("x", 1, 128, 64), "demo", 1)
    assert (image.content_type, image.width, image.height, image.seed) == ("image/png", 128, 64, 1)
    assert sniff_type(b"\xff\xd8\xff\xe0") == "image/jpeg"
    assert sniff_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    with pytest.raises(UpstreamFailed, match="not an image"):
        read_image(b"<html>nope</html>", "p", None)
    with pytest.raises(UpstreamFailed, match="broken"):
        read_image(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "p", None)
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(
        b"IHDR", struct.pack(">IIBBBBB", 10**5, 10**5, 8, 2, 0, 0, 0)
    )
    with pytest.raises(UpstreamFailed, match="broken"):  # 10^10 pixels claimed: refused
        read_image(bomb + chunk(b"IEND", b""), "p", None)


def test_image_ids_are_long_random_and_strictly_parsed() -> None:
    ids = {new_image_id() for _ in range(100)}
    assert len(ids) == 100 and all(len(i) == 36 for i in ids)
    image_id = ids.pop()
    assert parse_file_name(f"{image_id}.png") == (image_id, "png")
    for bad in (f"{image_id}.exe", f"{image_id}png", f"../{image_id}.png", "img_x.png"):
        assert parse_file_name(bad) is None
