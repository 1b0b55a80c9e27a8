"""The offline image provider: real PNGs of the asked size; same prompt and seed, same image."""

from __future__ import annotations

import asyncio
import io

from PIL import Image

from serika.providers.demo_image import DemoImageProvider, draw
from serika.providers.images import ImageCall, read_image


def call(prompt: str, seed: int, n: int = 1) -> ImageCall:
    return ImageCall("demo", prompt, 192, 128, n, 23, 10.0, "k_euler", seed)


def test_same_prompt_and_seed_same_png() -> None:
    first = draw("a red fox", 7, 192, 128)
    assert first == draw("a red fox", 7, 192, 128)
    assert first != draw("a red fox", 8, 192, 128)
    assert first != draw("a blue fox", 7, 192, 128)
    with Image.open(io.BytesIO(first)) as image:
        assert (image.format, image.size) == ("PNG", (192, 128))


def test_n_images_with_consecutive_seeds() -> None:
    images = asyncio.run(DemoImageProvider().generate_images(call("hills", 41, n=3)))
    assert [i.seed for i in images] == [41, 42, 43]
    assert len({i.data for i in images}) == 3
    assert all(read_image(i.data, "demo", i.seed).width == 192 for i in images)
